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


def artifacts() -> Iterator[Artifact]:
    if importlib.util.find_spec("scipy") is None:
        return
    for name, make in _sparse():
        same = {"coo_array_3d": _sparse_nd_same, "coo_int64_indices": _wide_same}.get(name, _sparse_same)
        yield Artifact(f"scipy/sparse/{name}", make, "scipy", _FORMATS, same=same)
