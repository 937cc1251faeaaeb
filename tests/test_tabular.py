"""Tabular loading (load_csv, load_numpy) and validation_split, on files the tests write themselves."""
import gzip

import numpy as np
import pytest

from fastnn import datasets
from fastnn.preprocessing import LabelEncoder


def _write(tmp_path, text, name="data.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


IRIS_LIKE = """sepal_length,sepal_width,species
5.1,3.5,setosa
4.9, 3.0 ,setosa
6.3,3.3,virginica

5.8,2.7,versicolor
"""


# ------------------------------------------------------------------------------------------------ load_csv

def test_header_target_by_name_string_labels(tmp_path):
    p = _write(tmp_path, IRIS_LIKE)
    X, y, names = datasets.load_csv(p, target="species", return_names=True)
    assert X.dtype == np.float32 and X.shape == (4, 2) and X.flags.c_contiguous
    np.testing.assert_array_equal(X, np.array([[5.1, 3.5], [4.9, 3.0], [6.3, 3.3], [5.8, 2.7]], np.float32))
    assert y.dtype.kind == "U" and y.tolist() == ["setosa", "setosa", "virginica", "versicolor"]
    assert names == ["sepal_length", "sepal_width"]
    idx = LabelEncoder().fit_transform(y)  # string targets feed the label encoder
    assert idx.tolist() == [0, 0, 2, 1]


@pytest.mark.parametrize("target", [0, -3, "a"])
def test_target_by_index_or_name(tmp_path, target):
    p = _write(tmp_path, "a,b,c\n1,2,3\n4,5,6\n")
    X, y = datasets.load_csv(p, target=target)
    np.testing.assert_array_equal(X, [[2, 3], [5, 6]])
    assert y.dtype == np.int64 and y.tolist() == [1, 4]


def test_no_header(tmp_path):
    p = _write(tmp_path, "1,2,0\n3.5,4,1\n-1e2,0.25,1\n")
    for header in ("infer", False):
        X, y = datasets.load_csv(p, target=-1, header=header, dtype="float64")
        assert X.dtype == np.float64
        np.testing.assert_array_equal(X, [[1, 2], [3.5, 4], [-100, 0.25]])
        assert y.tolist() == [0, 1, 1] and y.dtype == np.int64
    X, y = datasets.load_csv(p)
    assert y is None and X.shape == (3, 3)
    with pytest.raises(ValueError, match="no header"):
        datasets.load_csv(p, target="label")
    # header=True takes the first row as names even if numeric
    X, y, names = datasets.load_csv(p, header=True, return_names=True)
    assert names == ["1", "2", "0"] and X.shape == (2, 3)


def test_float_and_multi_targets(tmp_path):
    p = _write(tmp_path, "x,t1,t2\n1,0.5,7\n2,1.5,8\n")
    X, y = datasets.load_csv(p, target="t1")
    assert y.dtype == np.float32 and y.tolist() == [0.5, 1.5]
    X, y = datasets.load_csv(p, target=["t1", "t2"])
    assert X.shape == (2, 1) and y.shape == (2, 2) and y.dtype == np.float32
    np.testing.assert_array_equal(y, [[0.5, 7], [1.5, 8]])


def test_semicolon_quotes_bom_gzip(tmp_path):
    text = '\ufeff"a";"b";"label"\n"1,5";2;"x"\n'
    p = _write(tmp_path, text.replace('"1,5"', "1.5"))
    X, y = datasets.load_csv(p, target="label", delimiter=";")
    assert X.tolist() == [[1.5, 2.0]] and y.tolist() == ["x"]
    gz = tmp_path / "data.csv.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as f:
        f.write(IRIS_LIKE)
    X2, y2 = datasets.load_csv(gz, target=2)
    X1, y1 = datasets.load_csv(_write(tmp_path, IRIS_LIKE, "iris.csv"), target=2)
    np.testing.assert_array_equal(X1, X2)
    assert y1.tolist() == y2.tolist()


def test_bad_cell_names_file_line_column_and_cell(tmp_path):
    p = _write(tmp_path, "a,b,label\n1,2,0\n3,abc,1\n")
    with pytest.raises(ValueError) as exc:
        datasets.load_csv(p, target="label")
    msg = str(exc.value)
    assert "data.csv" in msg and "line 3" in msg and "'b'" in msg and "index 1" in msg and "'abc'" in msg
    q = _write(tmp_path, "1,2\n3,x y\n", "nohdr.csv")
    with pytest.raises(ValueError, match=r"nohdr\.csv: line 2, column index 1: cannot parse 'x y'"):
        datasets.load_csv(q)


def test_missing_cells(tmp_path):
    p = _write(tmp_path, "a,b,y\n1,2,0\n3,,1\n5,6,NA\n7,nan,1\n8,9,1\n")
    with pytest.raises(ValueError, match=r"line 3, column 'b' \(index 1\): missing value ''.*skip_missing"):
        datasets.load_csv(p, target="y")
    X, y = datasets.load_csv(p, target="y", skip_missing=True)
    np.testing.assert_array_equal(X, [[1, 2], [8, 9]])
    assert y.tolist() == [0, 1]
    q = _write(tmp_path, "a,y\n1,?\n", "allmissing.csv")
    with pytest.raises(ValueError, match="every one"):
        datasets.load_csv(q, target="y", skip_missing=True)


def test_empty_and_ragged(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        datasets.load_csv(_write(tmp_path, "", "empty.csv"))
    with pytest.raises(ValueError, match="empty"):
        datasets.load_csv(_write(tmp_path, "\n\n", "blank.csv"))
    with pytest.raises(ValueError, match="no data rows"):
        datasets.load_csv(_write(tmp_path, "a,b\n", "hdr.csv"))
    with pytest.raises(ValueError, match=r"line 3 has 2 fields, expected 3 \(as the header\)"):
        datasets.load_csv(_write(tmp_path, "a,b,c\n1,2,3\n4,5\n", "ragged.csv"))
    with pytest.raises(ValueError, match=r"line 2 has 4 fields, expected 3 \(as the first row\)"):
        datasets.load_csv(_write(tmp_path, "1,2,3\n4,5,6,7\n", "ragged2.csv"))


def test_bad_arguments(tmp_path):
    p = _write(tmp_path, "a,a,b\n1,2,3\n")
    with pytest.raises(ValueError, match="no column named 'z'"):
        datasets.load_csv(p, target="z")
    with pytest.raises(ValueError, match="2 columns are named 'a'"):
        datasets.load_csv(p, target="a")
    with pytest.raises(ValueError, match="out of range"):
        datasets.load_csv(p, target=3)
    with pytest.raises(ValueError, match="dtype"):
        datasets.load_csv(p, dtype="int32")
    with pytest.raises(ValueError, match="header"):
        datasets.load_csv(p, header="yes")
    with pytest.raises(ValueError, match="target"):
        datasets.load_csv(p, target=True)
    with pytest.raises(FileNotFoundError):
        datasets.load_csv(tmp_path / "nope.csv")
    b = tmp_path / "latin1.csv"
    b.write_bytes("a,b\n1,\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match="UTF-8"):
        datasets.load_csv(b)


def test_many_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets._tabular, "_CSV_BLOCK", 5)  # load_csv reads it from its own module
    rng = np.random.default_rng(0)
    data = np.round(rng.standard_normal((23, 3)), 4)
    labels = rng.integers(0, 3, 23)
    lines = ["f0,f1,f2,label"] + ["%r,%r,%r,%s" % (*row, "cls%d" % c) for row, c in zip(data.tolist(), labels)]
    p = _write(tmp_path, "\n".join(lines) + "\n")
    X, y = datasets.load_csv(p, target="label", dtype="float64")
    np.testing.assert_array_equal(X, data)
    assert y.tolist() == ["cls%d" % c for c in labels]
    bad = lines[:18] + ["1,2,oops,cls0"] + lines[18:]
    with pytest.raises(ValueError, match="line 19, column 'f2'"):
        datasets.load_csv(_write(tmp_path, "\n".join(bad) + "\n", "bad.csv"), target="label")


# ------------------------------------------------------------------------------------------------ load_numpy

def test_load_npy(tmp_path):
    a = np.arange(12, dtype=np.float64).reshape(4, 3)
    p = tmp_path / "a.npy"
    np.save(p, a)
    X, y = datasets.load_numpy(p)
    assert y is None and X.dtype == np.float32 and X.shape == (4, 3)
    X, y = datasets.load_numpy(p, target=-1)
    np.testing.assert_array_equal(X, a[:, :2])
    np.testing.assert_array_equal(y, a[:, 2])
    assert y.dtype == np.float64
    X, y = datasets.load_numpy(p, target=[0, 2], dtype="float64")
    assert X.shape == (4, 1) and y.shape == (4, 2) and X.dtype == np.float64
    imgs = np.zeros((5, 1, 4, 4), np.uint8)
    np.save(tmp_path / "imgs.npy", imgs)
    X, _ = datasets.load_numpy(tmp_path / "imgs.npy")
    assert X.shape == (5, 1, 4, 4) and X.dtype == np.float32
    with pytest.raises(ValueError, match="column names"):
        datasets.load_numpy(p, target="y")
    with pytest.raises(ValueError, match="out of range"):
        datasets.load_numpy(p, target=3)


def test_load_npz(tmp_path):
    X0 = np.random.default_rng(0).random((6, 4))
    y0 = np.array([0, 1, 2, 0, 1, 2])
    p = tmp_path / "d.npz"
    np.savez(p, X=X0, y=y0)
    X, y = datasets.load_numpy(p, target="y")
    np.testing.assert_array_equal(X, X0.astype(np.float32))
    assert y.dtype == y0.dtype and y.tolist() == y0.tolist()
    q = tmp_path / "e.npz"
    np.savez(q, inputs=X0, labels=y0)
    X, y = datasets.load_numpy(q, target="labels")
    assert X.shape == (6, 4)
    X, y = datasets.load_numpy(q, target=0, features="inputs")
    assert X.shape == (6, 3) and y.tolist() == X0[:, 0].tolist()
    r = tmp_path / "f.npz"
    np.savez(r, a=X0, b=X0, c=y0)
    with pytest.raises(ValueError, match="features="):
        datasets.load_numpy(r, target="c")
    with pytest.raises(ValueError, match="no member 'zz'"):
        datasets.load_numpy(r, target="zz")
    s = tmp_path / "g.npz"
    np.savez(s, X=X0, y=y0[:5])
    with pytest.raises(ValueError, match="different sample counts"):
        datasets.load_numpy(s, target="y")


def test_load_numpy_refuses_pickle_and_junk(tmp_path):
    p = tmp_path / "obj.npy"
    np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="obj.npy"):
        datasets.load_numpy(p)
    q = tmp_path / "obj.npz"
    np.savez(q, X=np.zeros((2, 2)), y=np.array(["a", None], dtype=object))
    with pytest.raises(ValueError, match="'y'"):
        datasets.load_numpy(q, target="y")
    j = tmp_path / "junk.npy"
    j.write_bytes(b"not numpy at all")
    with pytest.raises(ValueError, match="junk.npy"):
        datasets.load_numpy(j)
    st = tmp_path / "str.npy"
    np.save(st, np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="numeric"):
        datasets.load_numpy(st)


# ------------------------------------------------------------------------------------------------ validation_split

def test_validation_split():
    X = np.arange(100, dtype=np.float32).reshape(50, 2)
    y = np.repeat([0, 1], [40, 10])
    (Xt, yt), (Xv, yv) = datasets.validation_split(X, y, 0.2, seed=1)
    assert Xt.shape == (40, 2) and Xv.shape == (10, 2)
    assert np.bincount(yv).tolist() == [8, 2]  # stratified
    rows = np.concatenate([Xt[:, 0], Xv[:, 0]])
    assert sorted(rows.tolist()) == X[:, 0].tolist()
    (Xt2, _), (Xv2, _) = datasets.validation_split(X, y, 0.2, seed=1)
    np.testing.assert_array_equal(Xv, Xv2)
    (_, _), (Xv3, _) = datasets.validation_split(X, y.astype(np.float32) * 0.5 + X[:, 0], 0.3, stratify=False)
    assert Xv3.shape == (15, 2)
    with pytest.raises(ValueError, match=r"^validation_split: fraction"):
        datasets.validation_split(X, y, 1.5)
