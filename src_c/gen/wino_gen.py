"""Generates src_c/fnn_wino_gen.h: the Winograd minimal-filtering transforms F(m, r) used by fnn_conv_wino.c.

    python src_c/gen/wino_gen.py            # rewrites src_c/fnn_wino_gen.h (committed; the build does not run this)
    python src_c/gen/wino_gen.py --check    # verifies the transforms against a direct correlation, exits 1 if not
    python src_c/gen/wino_gen.py --error    # float32 error of each F(m, r) on random tiles (needs numpy)

Toom-Cook construction, exact rational arithmetic (fractions): a correlation of d (n = m + r - 1 taps) with g
(r taps), y_i = sum_k g_k d_{i+k} for i < m, is the transpose (in h <-> d) of the polynomial product s = h * g
(h with m coefficients).  Evaluating h and g at n points (the last one "infinity": the leading coefficient) and
interpolating gives s = C [(Ah h) . (G g)] with C the inverse of the n x n evaluation matrix, so
    y = Ah^T [(G g) . (C^T d)]      ->  A^T = Ah^T (m x n),  B^T = C^T (n x n),  G (n x r).
Each row j of B^T is scaled to small integers and row j of G divided by the same factor (the product of the
two rows' results is unchanged).  2-D: Y = A^T [(G g G^T) . (B^T d B)] A.

Emitted per (m, r), as straight-line code over a vector type the includer defines (VADD, VSUB, VMUL(x, c),
VFMA(x, c, acc) = acc + c * x, VZERO()): zero terms skipped, +-1 as additions.  1-D transforms, each reading
its inputs at a stride and writing at a stride (the 2-D transform is two passes):
    wino_in_N     o = B^T d         (n -> n)   input tiles
    wino_out_M_R  o = A^T t         (n -> m)   output tiles
    wino_outT_M_R o = A y           (m -> n)   adjoint of wino_out (output gradient, for the weight gradient)
and float tables (filter transforms, run once per call on scalars):
    fnn_wino_G_M_R [n][r], fnn_wino_AT_M_R [m][n], fnn_wino_BT_N [n][n].
"""
import argparse
import os
import sys
from fractions import Fraction as Fr
from functools import reduce
from math import gcd

# (m, r) pairs generated, and the evaluation points for each n = m + r - 1 (None = infinity)
PAIRS = [(2, 3), (4, 3), (2, 5), (4, 5)]
POINTS = {4: [0, 1, -1, None], 6: [0, 1, -1, 2, -2, None], 8: [0, 1, -1, 2, -2, Fr(1, 2), Fr(-1, 2), None]}
OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fnn_wino_gen.h")


def evalmat(points, q):
    """Rows: the values of a polynomial with q coefficients at each point (infinity: the leading one)."""
    return [[Fr(0)] * (q - 1) + [Fr(1)] if p is None else [Fr(p) ** i for i in range(q)] for p in points]


def inverse(a):
    n = len(a)
    m = [row[:] + [Fr(int(i == j)) for j in range(n)] for i, row in enumerate(a)]
    for c in range(n):
        piv = next(r for r in range(c, n) if m[r][c] != 0)
        m[c], m[piv] = m[piv], m[c]
        pv = m[c][c]
        m[c] = [v / pv for v in m[c]]
        for r in range(n):
            if r != c and m[r][c] != 0:
                f = m[r][c]
                m[r] = [a_ - f * b_ for a_, b_ in zip(m[r], m[c])]
    return [row[n:] for row in m]


def transpose(a):
    return [list(r) for r in zip(*a)]


def lcm(a, b):
    return a * b // gcd(a, b)


def matrices(m, r):
    n = m + r - 1
    pts = POINTS[n]
    ah = evalmat(pts, m)              # n x m
    g = evalmat(pts, r)               # n x r
    c = inverse(evalmat(pts, n))      # n x n
    bt = transpose(c)                 # n x n
    for j in range(n):                # row j of B^T to coprime integers, G row j divided by the factor
        den = reduce(lcm, (v.denominator for v in bt[j]), 1)
        num = reduce(gcd, (abs(v.numerator) for v in bt[j] if v != 0), 0)
        f = Fr(den, num)
        lead = next(v for v in bt[j] if v != 0)
        if lead < 0:
            f = -f
        bt[j] = [v * f for v in bt[j]]
        g[j] = [v / f for v in g[j]]
    return transpose(ah), g, bt       # A^T (m x n), G (n x r), B^T (n x n)


def check(m, r):
    """Y = A^T [(G g) . (B^T d)] equals the correlation for the unit vectors (exact, hence for all d, g)."""
    at, g, bt = matrices(m, r)
    n = m + r - 1
    for di in range(n):
        for gi in range(r):
            d = [Fr(int(i == di)) for i in range(n)]
            w = [Fr(int(i == gi)) for i in range(r)]
            u = [sum(g[j][k] * w[k] for k in range(r)) for j in range(n)]
            v = [sum(bt[j][k] * d[k] for k in range(n)) for j in range(n)]
            y = [sum(at[i][j] * u[j] * v[j] for j in range(n)) for i in range(m)]
            ref = [sum(w[k] * d[i + k] for k in range(r)) for i in range(m)]
            if y != ref:
                return False
    return True


def cnum(v):
    f = float(v)
    return repr(f) + "f" if f != int(f) else f"{int(f)}.0f"


def _sum(terms):
    """Straight-line expression for sum(coef * var) over (coef, var) pairs; None when empty."""
    expr = None
    for coef, v in terms:
        if coef == 0:
            continue
        if expr is None:
            expr = v if coef == 1 else f"VSUB(VZERO(), {v})" if coef == -1 else f"VMUL({v}, {cnum(coef)})"
        elif coef == 1:
            expr = f"VADD({expr}, {v})"
        elif coef == -1:
            expr = f"VSUB({expr}, {v})"
        else:
            expr = f"VFMA({v}, {cnum(coef)}, {expr})"
    return expr


def _alt(v, j):
    return v if j % 2 == 0 else -v


def emit_1d(name, mat):
    """o[i * so] = sum_j mat[i][j] * x[j * sx], straight-line.  The points +p and -p make pairs of rows equal up
    to the sign of the odd terms (row2[j] = +-(-1)^j row1[j]): each such pair is E + O and +-(E - O) from the
    even and odd partial sums.  Pairs of columns equal up to the sign of odd rows (M[i][c2] = (-1)^i M[i][c1])
    are read once as x[c1] + x[c2] (even rows) and x[c1] - x[c2] (odd rows)."""
    rows, cols = len(mat), len(mat[0])
    lines = [f"#define {name}(o, so, x, sx) do {{ \\"]
    for j in range(cols):
        lines.append(f"    VEC wg{j}_ = (x)[{j} * (sx)]; \\")
    # column pairs
    colpair, used = {}, set()
    for c1 in range(cols):
        for c2 in range(c1 + 1, cols):
            if c1 in used or c2 in used:
                continue
            if any(mat[i][c1] != 0 for i in range(rows)) and all(mat[i][c2] == _alt(mat[i][c1], i) for i in range(rows)):
                colpair[c1] = c2
                used |= {c1, c2}
                lines.append(f"    VEC ws{c1}_ = VADD(wg{c1}_, wg{c2}_), wd{c1}_ = VSUB(wg{c1}_, wg{c2}_); \\")

    def row_terms(i, cols_sel=None):
        out = []
        for j in range(cols):
            if cols_sel is not None and j % 2 != cols_sel:
                continue
            if j in colpair:
                out.append((mat[i][j], f"ws{j}_" if i % 2 == 0 else f"wd{j}_"))
            elif j in used:
                continue
            else:
                out.append((mat[i][j], f"wg{j}_"))
        return out

    done = set()
    for i in range(rows):
        if i in done:
            continue
        pair = None
        if not colpair:
            for i2 in range(i + 1, rows):
                if i2 in done:
                    continue
                for sign in (1, -1):
                    if all(mat[i2][j] == sign * _alt(mat[i][j], j) for j in range(cols)) and \
                            any(mat[i][j] != 0 for j in range(0, cols, 2)) and any(mat[i][j] != 0 for j in range(1, cols, 2)):
                        pair = (i2, sign)
                        break
                if pair:
                    break
        if pair:
            i2, sign = pair
            e = _sum([(mat[i][j], f"wg{j}_") for j in range(0, cols, 2)])
            o = _sum([(mat[i][j], f"wg{j}_") for j in range(1, cols, 2)])
            lines.append(f"    {{ VEC we_ = {e}, wo_ = {o}; \\")
            lines.append(f"      (o)[{i} * (so)] = VADD(we_, wo_); \\")
            lines.append(f"      (o)[{i2} * (so)] = {'VSUB(we_, wo_)' if sign == 1 else 'VSUB(wo_, we_)'}; }} \\")
            done |= {i, i2}
            continue
        lines.append(f"    (o)[{i} * (so)] = {_sum(row_terms(i)) or 'VZERO()'}; \\")
        done.add(i)
    lines.append("} while (0)")
    return "\n".join(lines)


def table(name, mat):
    rows = ", ".join("{" + ", ".join(cnum(v) for v in row) + "}" for row in mat)
    return f"static const float {name}[{len(mat)}][{len(mat[0])}] = {{{rows}}};"


def generate():
    out = ["/* fastnn: Winograd F(m, r) transforms.  GENERATED by src_c/gen/wino_gen.py -- do not edit; rerun it.",
           "   The includer defines VEC, VADD, VSUB, VMUL(x, c), VFMA(x, c, acc) (= acc + c * x) and VZERO(). */",
           "#ifndef FNN_WINO_GEN_H", "#define FNN_WINO_GEN_H", ""]
    done_n = set()
    for m, r in PAIRS:
        n = m + r - 1
        at, g, bt = matrices(m, r)
        pts = ", ".join("inf" if p is None else str(p) for p in POINTS[n])
        out.append(f"/* F({m}, {r}): n = {n}, points {pts} */")
        if n not in done_n:
            done_n.add(n)
            out.append(table(f"fnn_wino_BT_{n}", bt))
            out.append(emit_1d(f"wino_in_{n}", bt))
        out.append(table(f"fnn_wino_G_{m}_{r}", g))
        out.append(table(f"fnn_wino_AT_{m}_{r}", at))
        out.append(emit_1d(f"wino_out_{m}_{r}", at))
        out.append(emit_1d(f"wino_outT_{m}_{r}", transpose(at)))
        out.append("")
    out.append("#endif")
    return "\n".join(out) + "\n"


def float32_error(m, r, tiles=200, channels=64, seed=0):
    """Median and max relative error of the transforms in float32 (a tile of m x m outputs summed over
    `channels` channel pairs) against the float64 correlation, over random normal tiles."""
    import numpy as np

    at, g, bt = matrices(m, r)
    AT, G, BT = (np.array([[float(v) for v in row] for row in mat], np.float32) for mat in (at, g, bt))
    rng = np.random.default_rng(seed)
    errs = []
    for _ in range(tiles):
        d = rng.standard_normal((channels, m + r - 1, m + r - 1)).astype(np.float32)
        w = rng.standard_normal((channels, r, r)).astype(np.float32)
        u = np.einsum("ai,cij,bj->cab", G, w, G).astype(np.float32)
        v = np.einsum("ai,cij,bj->cab", BT, d, BT).astype(np.float32)
        y = AT @ (u * v).sum(0, dtype=np.float32) @ AT.T
        ref = np.array([[(d[:, i:i + r, j:j + r].astype(np.float64) * w).sum() for j in range(m)] for i in range(m)])
        errs.append(np.abs(y - ref).max() / np.abs(ref).max())
    return float(np.median(errs)), float(max(errs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--error", action="store_true")
    args = ap.parse_args()
    if args.error:
        for m, r in PAIRS:
            med, worst = float32_error(m, r)
            print(f"F({m}x{m}, {r}x{r}): float32 relative error median {med:.2e}, max {worst:.2e}")
        return
    ok = all(check(m, r) for m, r in PAIRS)
    if args.check or not ok:
        print("transforms exact" if ok else "TRANSFORM MISMATCH")
        sys.exit(0 if ok else 1)
    with open(OUT + ".tmp", "w") as f:
        f.write(generate())
    os.replace(OUT + ".tmp", OUT)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
