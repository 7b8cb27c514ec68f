"""scipy objects, under ``policy="scipy"``: each compared by value *and* by behaviour
(sparse containers densified and multiplied, interpolators, splines and distributions
evaluated, trees queried)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from typing import Any

from . import Artifact, assert_same

_FORMATS = ("p2", "p5", "joblib")


def _sparse_same(expected: Any, got: Any) -> None:
    import numpy as np

    assert type(expected) is type(got), type(got)
    assert expected.shape == got.shape and expected.dtype == got.dtype and expected.format == got.format
    np.testing.assert_array_equal(expected.toarray(), got.toarray())
    if expected.ndim == 2:
        vector = np.arange(expected.shape[1], dtype=float)
        np.testing.assert_array_equal(expected @ vector, got @ vector)
        np.testing.assert_array_equal((expected.T @ expected).toarray(), (got.T @ got).toarray())
    assert_same(vars(expected), vars(got))


def _sparse() -> Iterator[tuple[str, Callable[[], Any]]]:
    def matrix(fmt: str, kind: str) -> Callable[[], Any]:
        def make() -> Any:
            import numpy as np
            import scipy.sparse as sp

            dense = np.array([[1.0, 0, 2, 0, 0, 0], [0, 0, 3, 0, 0, 1], [4, 5, 0, 0, 0, 0], [0, 0, 0, 6, 7, 0]])
            if fmt == "bsr":
                return getattr(sp, f"bsr_{kind}")(dense, blocksize=(2, 2))
            return getattr(sp, f"{fmt}_{kind}")(dense)

        return make

    for fmt in ("csr", "csc", "coo", "bsr", "dia", "lil", "dok"):
        for kind in ("matrix", "array"):
            yield f"{fmt}_{kind}", matrix(fmt, kind)

    def random_csr() -> Any:
        import numpy as np
        import scipy.sparse as sp

        return sp.random_array((30, 20), density=0.2, format="csr", dtype=np.float32, rng=0)

    def int64_coo() -> Any:
        import numpy as np
        import scipy.sparse as sp

        return sp.coo_array(
            (np.array([1, 2], dtype=np.int64), (np.array([0, 3]), np.array([2**31 + 5, 1]))), shape=(4, 2**32)
        )

    def one_d() -> Any:
        import numpy as np
        import scipy.sparse as sp

        return sp.csr_array(np.array([0, 1.5, 0, 2]))

    def coo_3d() -> Any:
        import numpy as np
        import scipy.sparse as sp

        return sp.coo_array(np.arange(24.0).reshape(2, 3, 4) % 5)

    def dok_1d() -> Any:
        import numpy as np
        import scipy.sparse as sp

        return sp.dok_array(np.array([0, 3, 0, 4]))

    def complex_eye() -> Any:
        import numpy as np
        import scipy.sparse as sp

        return sp.eye_array(5, format="csc", dtype=np.complex128) * (1 + 2j)

    def bool_lil() -> Any:
        import scipy.sparse as sp

        matrix = sp.lil_matrix((3, 4), dtype=bool)
        matrix[1, 2] = True
        return matrix

    def diags() -> Any:
        import scipy.sparse as sp

        return sp.diags_array([[1.0, 2, 3], [4.0, 5, 6, 7], [8.0, 9]], offsets=[-1, 0, 2], shape=(4, 4))

    def unsorted() -> Any:
        import numpy as np
        import scipy.sparse as sp

        # indices out of order and a duplicate: what a user's own construction may leave
        return sp.csr_matrix((np.array([1.0, 2, 3]), np.array([2, 0, 2]), np.array([0, 3, 3])), shape=(2, 3))

    yield "random_csr_float32", random_csr
    yield "coo_int64_indices", int64_coo
    yield "csr_array_1d", one_d
    yield "coo_array_3d", coo_3d
    yield "dok_array_1d", dok_1d
    yield "csc_complex_eye", complex_eye
    yield "lil_bool", bool_lil
    yield "dia_diags", diags
    yield "csr_unsorted_duplicates", unsorted


def _sparse_nd_same(expected: Any, got: Any) -> None:
    import numpy as np

    assert type(expected) is type(got)
    np.testing.assert_array_equal(expected.toarray(), got.toarray())
    assert_same(vars(expected), vars(got))


def _wide_same(expected: Any, got: Any) -> None:
    """Too wide to densify: converted by sparsetools' int64 kernels, and reduced."""
    assert type(expected) is type(got)
    for attribute in ("data", "indices", "indptr"):
        assert_same(getattr(expected.tocsr(), attribute), getattr(got.tocsr(), attribute))
    assert expected.max() == got.max() and expected.tocsr()[3].nnz == got.tocsr()[3].nnz
    assert_same(vars(expected), vars(got))


_POINTS = (0.0, 0.3, 1.7, 2.9, 3.5)


def _evaluated(points: Any = _POINTS) -> Callable[[Any, Any], None]:
    """Same state, and the same values where the object is called."""

    def same(expected: Any, got: Any) -> None:
        import numpy as np

        assert type(expected) is type(got), type(got)
        np.testing.assert_array_equal(np.asarray(expected(points)), np.asarray(got(points)))
        assert_same(vars(expected), vars(got))

    return same


def _behaves(use: Callable[[Any], Any]) -> Callable[[Any, Any], None]:
    def same(expected: Any, got: Any) -> None:
        assert type(expected) is type(got), type(got)
        assert_same(use(expected), use(got))
        if hasattr(expected, "__dict__"):
            assert_same(vars(expected), vars(got))

    return same


def _behaves_only(use: Callable[[Any], Any]) -> Callable[[Any, Any], None]:
    def same(expected: Any, got: Any) -> None:
        assert type(expected) is type(got), type(got)
        assert_same(use(expected), use(got))

    return same


def _grid() -> Any:
    import numpy as np

    x = np.linspace(0.0, 3.0, 9)
    return x, np.sin(x)


def _interpolators() -> Iterator[tuple[str, Callable[[], Any], Callable[[Any, Any], None]]]:
    import numpy as np
    from scipy import interpolate as ip

    def on_grid(make: Callable[[Any, Any], Any]) -> Callable[[], Any]:
        return lambda: make(*_grid())

    inside = (0.0, 0.3, 1.7, 2.9)
    yield "interp1d_linear", on_grid(ip.interp1d), _evaluated(inside)
    yield "interp1d_cubic", on_grid(lambda x, y: ip.interp1d(x, y, kind="cubic")), _evaluated(inside)
    yield (
        "interp1d_nearest_fill",
        on_grid(lambda x, y: ip.interp1d(x, y, kind="nearest", bounds_error=False, fill_value=-1.0)),
        _evaluated(),
    )
    yield (
        "interp1d_previous",
        on_grid(lambda x, y: ip.interp1d(x, y, kind="previous", bounds_error=False)),
        _evaluated(),
    )
    yield "cubic_spline", on_grid(ip.CubicSpline), _evaluated()
    yield (
        "cubic_spline_periodic",
        lambda: ip.CubicSpline(np.linspace(0, 2 * np.pi, 7), np.cos(np.linspace(0, 2 * np.pi, 7)), bc_type="periodic"),
        _evaluated(),
    )
    yield "pchip", on_grid(ip.PchipInterpolator), _evaluated()
    yield "akima", on_grid(ip.Akima1DInterpolator), _evaluated()
    yield "cubic_hermite", on_grid(lambda x, y: ip.CubicHermiteSpline(x, y, np.cos(x))), _evaluated()
    yield "ppoly_from_spline", on_grid(lambda x, y: ip.PPoly.from_spline(ip.splrep(x, y))), _evaluated()
    yield "bpoly", lambda: ip.BPoly.from_derivatives([0, 1, 3], [[1, 2], [3, 4], [0, 1]]), _evaluated()
    yield "bspline_interp", on_grid(ip.make_interp_spline), _evaluated()
    yield "bspline_2d_values", on_grid(lambda x, y: ip.make_interp_spline(x, np.c_[y, 2 * y], k=2)), _evaluated()
    yield "bspline_smoothing", on_grid(ip.make_smoothing_spline), _evaluated()
    yield "univariate_spline", on_grid(lambda x, y: ip.UnivariateSpline(x, y, s=0.01)), _evaluated()
    yield "interpolated_univariate_spline", on_grid(ip.InterpolatedUnivariateSpline), _evaluated()
    yield "lsq_univariate_spline", on_grid(lambda x, y: ip.LSQUnivariateSpline(x, y, [1.0, 2.0])), _evaluated()
    yield (
        "univariate_spline_antiderivative",
        on_grid(lambda x, y: ip.UnivariateSpline(x, y).antiderivative()),
        _evaluated(),
    )

    def rect(make: Any) -> Callable[[], Any]:
        def build() -> Any:
            x, y = _grid()
            return make(x, x, np.outer(y, np.cos(x)))

        return build

    def grid_points(expected: Any, got: Any) -> None:
        assert type(expected) is type(got)
        x = np.array([0.2, 1.1, 2.5])
        np.testing.assert_array_equal(expected(x, x), got(x, x))
        assert_same(vars(expected), vars(got))

    def rgi_points(expected: Any, got: Any) -> None:
        assert type(expected) is type(got)
        pts = np.array([[0.2, 0.1], [1.1, 2.9], [2.5, 0.0]])
        np.testing.assert_array_equal(expected(pts), got(pts))
        assert_same(vars(expected), vars(got))

    yield "rect_bivariate_spline", rect(ip.RectBivariateSpline), grid_points
    yield "regular_grid_linear", rect(lambda x, y, z: ip.RegularGridInterpolator((x, y), z)), rgi_points
    yield (
        "regular_grid_nearest",
        rect(lambda x, y, z: ip.RegularGridInterpolator((x, y[::-1]), z, method="nearest")),
        rgi_points,
    )


def _others() -> Iterator[tuple[str, Callable[[], Any], Callable[[Any, Any], None]]]:
    import numpy as np
    from scipy import optimize, signal, spatial, stats
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(0)
    points = rng.random((50, 3))
    queries = rng.random((7, 3))

    def tree_same(expected: Any, got: Any) -> None:
        assert type(expected) is type(got)
        for k in (1, 4):
            np.testing.assert_array_equal(expected.query(queries, k)[1], got.query(queries, k)[1])
        assert expected.query_ball_point(queries, 0.3).tolist() == got.query_ball_point(queries, 0.3).tolist()
        assert_same(expected.__getstate__()[1:], got.__getstate__()[1:])  # (the node buffer holds addresses)

    def rotation_same(expected: Any, got: Any) -> None:
        assert type(expected) is type(got)
        vector = np.array([1.0, 2.0, 3.0])
        np.testing.assert_array_equal(expected.apply(vector), got.apply(vector))
        np.testing.assert_array_equal(expected.as_matrix(), got.as_matrix())
        np.testing.assert_array_equal((expected * expected).as_quat(), (got * got).as_quat())

    yield (
        "minimize_bfgs",
        lambda: optimize.minimize(lambda v: ((v - 1.5) ** 2).sum(), [0.0, 0.0], method="BFGS"),
        assert_same,
    )
    yield (
        "minimize_lbfgsb",
        lambda: optimize.minimize(lambda v: ((v - 1.5) ** 2).sum(), [0.0, 0.0], method="L-BFGS-B"),
        _behaves(lambda r: (r.x, r.fun, r.hess_inv.todense())),
    )
    yield "least_squares", lambda: optimize.least_squares(lambda v: v - np.arange(3.0), np.zeros(3)), assert_same
    yield "linprog", lambda: optimize.linprog([-1, -2], A_ub=[[1, 1]], b_ub=[4], bounds=[(0, 3), (0, 3)]), assert_same
    yield "root_scalar", lambda: optimize.root_scalar(lambda v: v**2 - 2, bracket=[0, 2]), assert_same
    yield "ckdtree", lambda: spatial.cKDTree(points, leafsize=4), tree_same
    yield (
        "ckdtree_unbalanced_periodic",
        lambda: spatial.cKDTree(points, balanced_tree=False, compact_nodes=False, boxsize=1.0),
        tree_same,
    )
    yield "kdtree", lambda: spatial.KDTree(points), tree_same
    yield "rotation_single", lambda: Rotation.from_euler("xyz", [10, 20, 30], degrees=True), rotation_same
    yield "rotation_many", lambda: Rotation.random(5, rng=1), rotation_same
    yield "transfer_function", lambda: signal.lti([1.0], [1.0, 2.0, 1.0]), _behaves(lambda s: s.freqresp(w=[0.1, 1.0]))
    yield (
        "zpk_discrete",
        lambda: signal.dlti([0.5], [0.25, -0.5], 1.0, dt=0.1),
        _behaves(lambda s: s.freqresp(w=[0.1, 1.0])),
    )
    yield (
        "state_space",
        lambda: signal.lti([[0.0, 1.0], [-1.0, -0.5]], [[0.0], [1.0]], [[1.0, 0.0]], [[0.0]]),
        _behaves(lambda s: s.step(N=5)),
    )
    yield (
        "gaussian_kde",
        lambda: stats.gaussian_kde(rng.normal(size=(2, 40))),
        _behaves(lambda k: k([[0.0, 0.5], [0.1, -0.2]])),
    )
    yield (
        "gaussian_kde_weighted",
        lambda: stats.gaussian_kde(rng.normal(size=30), weights=rng.random(30)),
        _behaves(lambda k: k.logpdf([0.0, 1.0])),
    )
    yield "describe", lambda: stats.describe([1.0, 2, 3, 4, 9]), _behaves(tuple)


def _distributions() -> Iterator[tuple[str, Callable[[], Any], Callable[[Any, Any], None]]]:
    import numpy as np
    from scipy import stats

    points = np.array([-1.0, 0.0, 0.5, 2.0, 7.0])

    def continuous(frozen: Any) -> Any:
        return (
            frozen.pdf(points),
            frozen.cdf(points),
            frozen.ppf([0.1, 0.5, 0.9]),
            frozen.mean(),
            frozen.var(),
            frozen.rvs(random_state=1),
        )

    def discrete(frozen: Any) -> Any:
        ks = np.arange(6)
        return (
            frozen.pmf(ks),
            frozen.cdf(ks),
            frozen.ppf([0.1, 0.5, 0.9]),
            frozen.mean(),
            frozen.entropy(),
            frozen.rvs(4, random_state=1),
        )

    def same(use: Callable[[Any], Any]) -> Callable[[Any, Any], None]:
        """The same behaviour and arguments (the distribution's methods are rebuilt by
        its ``__setstate__``, so they are new objects in both copies)."""

        def compare(expected: Any, got: Any) -> None:
            assert type(expected) is type(got) and type(expected.dist) is type(got.dist)
            assert_same(use(expected), use(got))
            assert_same((expected.args, expected.kwds, expected.a, expected.b), (got.args, got.kwds, got.a, got.b))
            assert_same(expected.dist._ctor_param, got.dist._ctor_param)

        return compare

    yield "norm_frozen", lambda: stats.norm(1.0, 2.0), same(continuous)
    yield "gamma_frozen", lambda: stats.gamma(2.0, scale=3.0), same(continuous)
    yield "beta_frozen", lambda: stats.beta(a=2.0, b=5.0), same(continuous)
    yield "t_frozen_arrays", lambda: stats.t(np.array([3.0, 5.0])[:, None], loc=0.5), same(continuous)
    yield "lognorm_fitted", lambda: stats.lognorm(*stats.lognorm.fit([1.0, 2.0, 2.5, 3.0, 7.0])), same(continuous)
    yield "expon_seeded", lambda: stats.expon(scale=2.0), same(lambda f: (continuous(f), f.random_state.random()))
    yield "vonmises_line", lambda: stats.vonmises_line(1.5), same(continuous)
    yield (
        "norm_distribution",
        lambda: stats.norm,
        _behaves_only(lambda d: (d.pdf(points), d.ppf(0.3, loc=2), d._ctor_param)),
    )
    yield "poisson_frozen", lambda: stats.poisson(3.0), same(discrete)
    yield "binom_frozen", lambda: stats.binom(10, 0.3), same(discrete)
    yield "nbinom_frozen", lambda: stats.nbinom(5, 0.5, loc=1), same(discrete)
    yield "randint_frozen", lambda: stats.randint(0, 6), same(discrete)


def _results() -> Iterator[tuple[str, Callable[[], Any], Callable[[Any, Any], None]]]:
    """Result objects with keyword fields: NEWOBJ_EX from protocol 4 on."""
    from scipy import stats

    yield (
        "pearsonr",
        lambda: stats.pearsonr([1.0, 2, 3, 4, 6], [2.0, 3, 4, 7, 5]),
        _behaves(lambda r: tuple(r.confidence_interval())),
    )
    yield "linregress", lambda: stats.linregress([1.0, 2, 3, 4], [2.0, 3, 4, 7]), _behaves(tuple)
    yield "spearmanr", lambda: stats.spearmanr([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]), _behaves(tuple)


#: why protocol 2 copies of the keyword-field results are refused
PARTIAL = "protocols 2-3 write an object with keyword fields as functools.partial(cls.__new__, ...)"


def artifacts() -> Iterator[Artifact]:
    if importlib.util.find_spec("scipy") is None:
        return
    for name, make, same in (*_interpolators(), *_others(), *_distributions()):
        yield Artifact(f"scipy/{name}", make, "scipy", _FORMATS, same=same)
    for name, make, same in _results():
        yield Artifact(f"scipy/{name}", make, "scipy", ("p5", "joblib"), same=same)
        yield Artifact(f"scipy/{name}-protocol-2", make, "scipy", ("p2",), same=same, refused=PARTIAL)
    for name, make in _sparse():
        same = {"coo_array_3d": _sparse_nd_same, "coo_int64_indices": _wide_same}.get(name, _sparse_same)
        yield Artifact(f"scipy/sparse/{name}", make, "scipy", _FORMATS, same=same)
