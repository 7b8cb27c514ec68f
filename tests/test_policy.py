"""The Policy value: construction, composition, TOML round trips and validation."""

from __future__ import annotations

import collections
import fractions
import pickle
import sys
from pathlib import Path

import pytest

import picklefence
from picklefence import Arg, Policy, PolicyFileError, PolicyViolation, Rule, Signature


class User:
    def __init__(self, name: str) -> None:
        self.name = name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, User) and other.name == self.name


class Session:
    def __init__(self, user: User) -> None:
        self.user = user

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Session) and other.user == self.user


def test_shipped_policies_are_listed_and_load() -> None:
    assert {"default", "stdlib"} <= set(Policy.shipped_names())
    assert "builtins:bytearray" in Policy.named("default")
    assert "datetime:datetime" in Policy.named("stdlib")


def test_stdlib_includes_default() -> None:
    default = Policy.named("default")
    stdlib = Policy.named("stdlib")
    assert all(rule.name in stdlib for rule in default)


def test_every_shipped_rule_says_why() -> None:
    for name in Policy.shipped_names():
        for rule in Policy.named(name):
            assert rule.why, f"{name}: {rule.name} has no justification"


def test_allow_own_classes_in_one_line() -> None:
    policy = Policy.named("default").allow(User, Session)
    data = pickle.dumps(Session(User("ada")), 4)
    assert picklefence.loads(data, policy=policy) == Session(User("ada"))


def test_allow_by_name_string() -> None:
    policy = Policy.named("default").allow(f"{__name__}:User")
    assert picklefence.loads(pickle.dumps(User("x")), policy=policy) == User("x")


def test_refusal_names_the_class_and_suggests_the_fix() -> None:
    with pytest.raises(PolicyViolation) as info:
        picklefence.loads(pickle.dumps(User("x")))
    exc = info.value
    assert exc.name == f"{__name__}:User"
    assert exc.capability == "reference"
    assert exc.offset is not None
    assert exc.opcode == "STACK_GLOBAL"
    text = str(exc)
    assert f"Policy.named('default').allow('{__name__}:User')" in text
    assert f'[allow."{__name__}:User"]' in text


def test_allow_with_argument_rule() -> None:
    policy = Policy.named("default").allow("builtins:bytearray", args=[bytes])
    ok = pickle.dumps(bytearray(b"abc"), 3)
    assert picklefence.loads(ok, policy=policy) == bytearray(b"abc")
    empty = pickle.dumps(bytearray(), 3)  # bytearray() has no bytes argument
    with pytest.raises(PolicyViolation) as info:
        picklefence.loads(empty, policy=policy)
    assert info.value.capability == "arguments"


def test_allow_with_python_check() -> None:
    calls: list[tuple[object, ...]] = []

    def small(call: picklefence.Call) -> bool:
        calls.append(call.args)
        return all(isinstance(a, int) and abs(a) < 100 for a in call.args)

    policy = Policy.named("default").allow("builtins:range", check=small)
    assert picklefence.loads(pickle.dumps(range(1, 5)), policy=policy) == range(1, 5)
    with pytest.raises(PolicyViolation):
        picklefence.loads(pickle.dumps(range(1, 500)), policy=policy)
    assert set(calls) == {(1, 5, 1), (1, 500, 1)}  # a check may run twice (fast path, then strict engine)


def test_allow_returns_a_new_policy_and_never_changes_shipped_ones() -> None:
    before = Policy.named("default")
    extended = before.allow(User)
    assert f"{__name__}:User" in extended
    assert f"{__name__}:User" not in before
    assert f"{__name__}:User" not in Policy.named("default")
    assert Policy.named("default") is before


def test_deny_removes_a_rule() -> None:
    policy = Policy.named("default").deny("builtins:range")
    with pytest.raises(PolicyViolation):
        picklefence.loads(pickle.dumps(range(3)), policy=policy)


def test_union_allows_what_either_allows() -> None:
    a = Policy().allow(User)
    b = Policy().allow(Session)
    both = a | b
    assert f"{__name__}:User" in both and f"{__name__}:Session" in both
    assert picklefence.loads(pickle.dumps(Session(User("x"))), policy=both) == Session(User("x"))


def test_union_of_same_name_widens_signatures() -> None:
    a = Policy().allow("builtins:range", args=[int, int, int])
    b = Policy().allow("builtins:range", args=[int])
    rule = (a | b).rule("builtins", "range")
    assert rule is not None and rule.signatures is not None and len(rule.signatures) == 2


def test_union_with_unconstrained_rule_is_unconstrained() -> None:
    a = Policy().allow("builtins:range", args=[int, int, int])
    b = Policy().allow("builtins:range")
    rule = (a | b).rule("builtins", "range")
    assert rule is not None and rule.signatures is None


def test_policy_argument_accepts_a_sequence() -> None:
    data = pickle.dumps(Session(User("x")))
    policy = ["default", Policy().allow(User, Session)]
    assert picklefence.loads(data, policy=policy) == Session(User("x"))


def test_policy_argument_accepts_a_toml_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(f'include = ["default"]\n[allow."{__name__}:User"]\nwhy = "ours"\n')
    assert picklefence.loads(pickle.dumps(User("x")), policy=str(path)) == User("x")
    assert picklefence.loads(pickle.dumps(User("x")), policy=path) == User("x")


def test_unknown_policy_name_is_an_error() -> None:
    with pytest.raises(ValueError, match="no shipped policy named 'no-such-policy'"):
        picklefence.loads(b"N.", policy="no-such-policy")


def test_unrestricted_allows_everything() -> None:
    assert picklefence.loads(pickle.dumps(User("x")), policy=Policy.unrestricted()) == User("x")
    assert Policy.unrestricted().allow(User).is_unrestricted


def test_to_toml_round_trips_shipped_policies() -> None:
    for name in Policy.shipped_names():
        policy = Policy.named(name)
        assert Policy.from_toml(policy.to_toml()) == policy


def test_to_toml_round_trips_every_constraint_kind() -> None:
    policy = Policy().allow(
        "pkg.mod:Thing",
        can=["call", "state"],
        signatures=[
            Signature((Arg(types=frozenset({"int"}), min=0, max=10),)),
            Signature((Arg(values=("a", 1, True, 2.5)),), varargs=Arg(max_len=3)),
            Signature((Arg(globals=frozenset({"builtins:int"}), pattern="[a-z]+"),), kwargs={"x": Arg()}),
            Signature(check="copyreg_reconstructor"),
        ],
        state_keys=["a", "b"],
        why='with "quotes" and \\ backslash',
    )
    assert Policy.from_toml(policy.to_toml()) == policy


def test_python_checks_cannot_be_written_as_toml() -> None:
    policy = Policy().allow("builtins:range", check=lambda call: True)
    with pytest.raises(ValueError, match="Python check"):
        policy.to_toml()


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ('[allow."a:b"]\nwhy = "x"\ncann = ["call"]\n', "unknown key 'cann'", 3),
        ('inclued = ["default"]\n', "unknown top-level key 'inclued'", 1),
        ('\n\n[allow."not a name"]\n', "not of the form", 3),
        ('[allow."a:b"]\ncan = ["execute"]\n', "unknown capability 'execute'", 2),
        ('[allow."a:b"]\nsignatures = [{ args = [{ type = ["int"], min = 5, max = 1 }] }]\n', "nothing could match", 2),
        ('[allow."a:b"]\nsignatures = [{ args = [{ tpye = ["int"] }] }]\n', "unknown key 'tpye'", 2),
        ('[allow."a:b"]\nsignatures = [{ args = [{ type = ["integer"] }] }]\n', "unknown type name 'integer'", 2),
        ('[allow."a:b"]\nsignatures = [{ check = "no_such_check" }]\n', "unknown 'check'", 2),
        ('[allow."a:b"]\nsignatures = [{ args = [{ pattern = "(" }] }]\n', "not a valid regular expression", 2),
        ('[allow."a:b"]\nsignatures = []\n', "allows no call", 2),
        ('[allow."a:b.__globals__"]\n', "special attribute", 1),
        ('[allow."a:b"]\n[allow."a:b"]\n', "", None),
        ('[exclude."a:b"]\nwhy = "no"\n\n[allow."a:b"]\nwhy = "yes"\n', "both allowed and excluded", 4),
        ('[allow."a:b"]\nwhy = "yes"\n\n[exclude."a:b"]\nwhy = "no"\n', "both allowed and excluded", 1),
        ('\n[exclude."a:b"]\n', "exactly one key, why", 2),
        ('[exclude."a:b"]\nwhy = "no"\ncan = ["call"]\n', "exactly one key, why", 1),
        ('[exclude."a:b"]\nwhy = " "\n', "must say why", 2),
        ('\n[exclude."not a name"]\nwhy = "no"\n', "not of the form", 2),
        ('exclude = ["a:b"]\n', "must be a table", 1),
    ],
)
def test_malformed_policy_files_are_errors_with_line_numbers(text: str, message: str, line: int | None) -> None:
    with pytest.raises(PolicyFileError) as info:
        Policy.from_toml(text)
    assert message in str(info.value)
    if line is not None:
        assert f"line {line}:" in str(info.value)


def test_include_cycle_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('include = ["b.toml"]\n')
    (tmp_path / "b.toml").write_text('include = ["a.toml"]\n')
    with pytest.raises(PolicyFileError, match="cycle"):
        Policy.from_toml(tmp_path / "a.toml")


def test_rules_match_exact_names_only() -> None:
    policy = Policy().allow("collections:OrderedDict")
    assert policy.rule("collections", "OrderedDict") is not None
    assert policy.rule("collections", "OrderedDict.fromkeys") is None
    assert policy.rule("collections.abc", "OrderedDict") is None


def test_rule_capability_defaults_depend_on_kind() -> None:
    rule = Rule("m", "q")
    assert rule.capabilities(collections.OrderedDict) == frozenset(picklefence._rules.CAPABILITIES)
    assert rule.capabilities(fractions.gcd if hasattr(fractions, "gcd") else len) == {"reference", "call"}
    assert rule.capabilities(3) == {"reference"}
    assert Rule("m", "q", can=frozenset({"call"})).can == {"reference", "call"}


def test_allow_refuses_dunder_walks() -> None:
    with pytest.raises(ValueError, match="special attribute"):
        Policy().allow("builtins:object.__subclasses__")


def test_union_with_a_reference_only_rule_keeps_argument_rules() -> None:
    calls = Policy().allow("builtins:range", args=[int, int, int])
    reference = Policy().allow("builtins:range", can=["reference"])
    rule = (calls | reference).rule("builtins", "range")
    assert rule is not None and rule.signatures is not None
    assert "call" in rule.capabilities(range)


def test_union_state_keys_come_from_rules_that_grant_state() -> None:
    no_state = Policy().allow("collections:OrderedDict", can=["call", "items"])
    some_state = Policy().allow("collections:OrderedDict", can=["state"], state_keys=["_metadata"])
    rule = (no_state | some_state).rule("collections", "OrderedDict")
    assert rule is not None and rule.state_keys == {"_metadata"}


def test_aliases_match_the_canonical_rule() -> None:
    policy = Policy().allow("pathlib:PurePosixPath")
    assert policy.rule("pathlib._local", "PurePosixPath") is not None
    assert policy.rule("pathlib._locals", "PurePosixPath") is None


EXCLUDING = 'include = ["default"]\n\n[exclude."this:s"]\nwhy = "importing it prints a poem"\n'


def test_an_excluded_name_is_refused_with_the_reason_and_nothing_is_imported(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(EXCLUDING)
    policy = Policy.from_toml(path)
    assert dict(policy.exclusions) == {
        ("this", "s"): picklefence._rules.Exclusion("importing it prints a poem", str(path))
    }
    assert "this" not in sys.modules
    data = b"\x80\x04\x8c\x04this\x8c\x01s\x93."  # PROTO 4, STACK_GLOBAL this.s
    with pytest.raises(PolicyViolation) as info:
        picklefence.loads(data, policy=policy)
    error = info.value
    assert (error.name, error.capability) == ("this:s", "reference")
    assert f"the policy {path} excludes it on purpose: importing it prints a poem" in str(error)
    assert "this" not in sys.modules


def test_the_pickler_says_why_a_name_is_excluded() -> None:
    policy = Policy.from_toml('include = ["default"]\n[exclude."fractions:Fraction"]\nwhy = "we keep no fractions"\n')
    with pytest.raises(picklefence.PicklingError) as info:
        picklefence.dumps(fractions.Fraction(1, 3), policy=policy)
    assert (
        "'fractions:Fraction' is not allowed by the policy; the policy excludes it on purpose: we keep no fractions"
        in str(info.value)
    )


def test_exclusions_come_through_includes_unless_the_including_file_allows_the_name(tmp_path: Path) -> None:
    (tmp_path / "base.toml").write_text(EXCLUDING)
    (tmp_path / "top.toml").write_text('include = ["base.toml"]\n')
    (tmp_path / "lifted.toml").write_text('include = ["base.toml"]\n[allow."this:s"]\nwhy = "we read the poem"\n')
    inherited = Policy.from_toml(tmp_path / "top.toml").exclusion("this", "s")
    assert inherited is not None and inherited.source == str(tmp_path / "base.toml")
    lifted = Policy.from_toml(tmp_path / "lifted.toml")
    assert lifted.exclusion("this", "s") is None and "this:s" in lifted


def test_a_file_excluding_an_included_name_refuses_it() -> None:
    policy = Policy.from_toml('include = ["default"]\n[exclude."builtins:bytearray"]\nwhy = "no mutable bytes"\n')
    assert "builtins:bytearray" not in policy and "builtins:bytes" in policy
    with pytest.raises(PolicyViolation, match="excludes it on purpose: no mutable bytes") as info:
        picklefence.loads(pickle.dumps(bytearray(b"ab"), 4), policy=policy)
    assert (info.value.name, info.value.capability) == ("builtins:bytearray", "reference")


def test_exclusions_survive_toml_union_and_deny_but_allow_lifts_them() -> None:
    policy = Policy.from_toml(EXCLUDING)
    assert Policy.from_toml(policy.to_toml()) == policy
    assert '[exclude."this:s"]' in policy.to_toml()
    assert (policy | Policy()).exclusion("this", "s") is not None
    assert policy.deny("builtins:bytearray").exclusion("this", "s") is not None
    assert policy.allow("this:s").exclusion("this", "s") is None
    assert policy != Policy.from_toml('include = ["default"]\n')


def test_a_shipped_policy_s_exclusion_is_said_to_come_from_its_name() -> None:
    from picklefence._hints import exclusion_words
    from picklefence.policy import _relabelled

    key = ("sklearn.x", "Y")
    relabelled = _relabelled(
        {key: picklefence._rules.Exclusion("it is not needed", "policies/sklearn.toml")}, "sklearn"
    )
    assert exclusion_words(relabelled[key]) == "the shipped policy 'sklearn' excludes it on purpose: it is not needed"
    inherited = picklefence._rules.Exclusion("no", "policies/numpy.toml")
    assert _relabelled({key: inherited}, "sklearn")[key] is inherited  # (relabelled when numpy's file is read)
