/* The tree loop of the compiled HistGradientBoostingClassifier (boosting.py), in C.
 *
 * prepare() copies and checks the flattened node tables once and returns an opaque capsule; raw_scores()
 * then walks every tree for every row of X and writes baseline + the leaf values, summed as scikit-learn sums
 * them. Only the stable ABI (3.11) and the buffer protocol: numpy is not a build requirement.
 *
 * The tables use boosting.py's widened input z (3d columns, no categorical ones): column c < d is X[c] with
 * NaN read as +inf, d <= c < 2d is X[c-d] with NaN read as -inf, 2d <= c < 3d is isnan(X[c-2d]) as 0/1.
 * A split goes to left + 1 when z[col] > thr, else to left; a leaf is its own successor (left == itself).
 */
#define Py_LIMITED_API 0x030B0000
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define CAPSULE_NAME "privml.models.compiled._trees.Forest"
#define GROUP 16 /* trees walked side by side, independent load chains overlapping (8: 20% slower) */
#define CHUNK 64 /* rows widened and walked together: their z (3d doubles each) stay in cache */

/* One node, 16 bytes: go to left + (z[col] > thr). A leaf is its own successor and never goes right
 * (thr = +inf, col = 0: no z is > +inf), so a walk may run past its leaf without branching. */
typedef struct {
    double thr;
    int32_t left;
    int32_t col;
} Node;

typedef struct {
    Py_ssize_t n_nodes, n_trees, d, k;
    Node *nodes;
    double *value;    /* per node: a leaf's value */
    int32_t *roots;   /* tree t = iteration t / k, class t % k: scikit-learn's order */
    int32_t *order;   /* trees, deepest first: a group of GROUP walks as many steps as its first tree */
    int32_t *depth;   /* per tree: steps from its root to its deepest leaf */
    double *baseline; /* k */
} Forest;

static void forest_release(Forest *f) {
    PyMem_Free(f->nodes);
    PyMem_Free(f->value);
    PyMem_Free(f->roots);
    PyMem_Free(f->order);
    PyMem_Free(f->depth);
    PyMem_Free(f->baseline);
    PyMem_Free(f);
}

static void forest_free(PyObject *capsule) {
    Forest *f = PyCapsule_GetPointer(capsule, CAPSULE_NAME);
    if (f != NULL)
        forest_release(f);
}

/* A C-contiguous buffer of `ndim` dimensions whose items are `itemsize` bytes of one of the struct
 * codes in `codes` (native byte order). On failure: exception set, nothing held. */
static int get_buffer(PyObject *obj, Py_buffer *view, int ndim, Py_ssize_t itemsize, const char *codes,
                      int writable, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0)) < 0)
        return -1;
    const char *fmt = view->format ? view->format : "B";
    if (fmt[0] == '@' || fmt[0] == '=' || (fmt[0] == '<' && PY_LITTLE_ENDIAN) || (fmt[0] == '>' && PY_BIG_ENDIAN))
        fmt++;
    if (view->ndim != ndim || view->itemsize != itemsize || strlen(fmt) != 1 || strchr(codes, fmt[0]) == NULL) {
        PyErr_Format(PyExc_ValueError, "%s: expected a C-contiguous %d-d array of %s", what, ndim,
                     strchr(codes, 'd') ? "float64" : "int64");
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

#define INT64_CODES "lqn" /* numpy's intp/int64 is 'l' on LP64, 'q' on LLP64 */

/* Checks and packs the tables into f; -1 with an exception set if any index could leave them. */
static int fill_forest(Forest *f, const int64_t *col, const double *thr, const int64_t *left, const double *value,
                       const int64_t *roots) {
    const Py_ssize_t n_nodes = f->n_nodes, d = f->d;
    for (Py_ssize_t i = 0; i < n_nodes; i++) {
        Node *n = &f->nodes[i];
        if (left[i] == i) { /* a leaf */
            *n = (Node){INFINITY, (int32_t)i, 0};
            f->value[i] = value[i];
            continue;
        }
        /* Children after their parent (boosting.py lays trees out breadth first): every step of a walk moves
         * to a higher id, so even a corrupt table is a forest of finite depth and a walk never leaves it. */
        if (left[i] <= i || left[i] >= n_nodes - 1 || col[i] < 0 || col[i] >= 3 * d) {
            PyErr_Format(PyExc_ValueError, "node %zd: child or column out of range", i);
            return -1;
        }
        *n = (Node){thr[i], (int32_t)left[i], (int32_t)col[i]};
        f->value[i] = 0.0;
    }
    /* Height of every node, children first (they have higher ids); reused as scratch for the depth sort. */
    int32_t *height = PyMem_Calloc((size_t)n_nodes + 1, sizeof(int32_t));
    if (height == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = n_nodes - 1; i >= 0; i--) {
        int32_t l = f->nodes[i].left;
        if (l != i)
            height[i] = 1 + (height[l] > height[l + 1] ? height[l] : height[l + 1]);
    }
    int32_t max_depth = 0;
    for (Py_ssize_t t = 0; t < f->n_trees; t++) {
        if (roots[t] < 0 || roots[t] >= n_nodes) {
            PyErr_Format(PyExc_ValueError, "tree %zd: root out of range", t);
            PyMem_Free(height);
            return -1;
        }
        f->roots[t] = (int32_t)roots[t];
        f->depth[t] = height[roots[t]];
        max_depth = f->depth[t] > max_depth ? f->depth[t] : max_depth;
    }
    /* Counting sort, deepest first (depth < n_nodes, so height has room for the counts). */
    memset(height, 0, ((size_t)n_nodes + 1) * sizeof(int32_t));
    for (Py_ssize_t t = 0; t < f->n_trees; t++)
        height[max_depth - f->depth[t] + 1]++;
    for (int32_t s = 1; s <= max_depth; s++)
        height[s] += height[s - 1];
    for (Py_ssize_t t = 0; t < f->n_trees; t++)
        f->order[height[max_depth - f->depth[t]]++] = (int32_t)t;
    PyMem_Free(height);
    return 0;
}

static PyObject *prepare(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *objs[6]; /* col, thr, left, value, roots, baseline */
    Py_ssize_t d, n_iter, k;
    if (!PyArg_ParseTuple(args, "OOOOOOnnn:prepare", &objs[0], &objs[1], &objs[2], &objs[3], &objs[4], &objs[5],
                          &d, &n_iter, &k))
        return NULL;
    const char *codes[6] = {INT64_CODES, "d", INT64_CODES, "d", INT64_CODES, "d"};
    const char *names[6] = {"col", "thr", "left", "value", "roots", "baseline"};
    Py_buffer b[6];
    PyObject *capsule = NULL;
    Forest *f = NULL;
    int held = 0;
    for (; held < 6; held++)
        if (get_buffer(objs[held], &b[held], 1, 8, codes[held], 0, names[held]) < 0)
            goto done;
    Py_ssize_t n_nodes = b[0].shape[0], n_trees = b[4].shape[0];
    if (b[1].shape[0] != n_nodes || b[2].shape[0] != n_nodes || b[3].shape[0] != n_nodes) {
        PyErr_SetString(PyExc_ValueError, "col, thr, left and value differ in length");
        goto done;
    }
    /* int32 node ids and 30 bits of raw column: the "tables fit" limits boosting.py checks first. */
    if (n_nodes < 1 || n_nodes > INT32_MAX - 1 || d < 1 || d >= (1 << 29) || k < 1 || n_iter < 0 ||
        n_iter > INT32_MAX / k || n_trees != n_iter * k || b[5].shape[0] != k) {
        PyErr_SetString(PyExc_ValueError, "table sizes do not fit: nodes, d, n_iter * k roots, k baselines");
        goto done;
    }
    f = PyMem_Calloc(1, sizeof(Forest));
    if (f == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    f->n_nodes = n_nodes, f->n_trees = n_trees, f->d = d, f->k = k;
    size_t trees = n_trees ? (size_t)n_trees : 1;
    f->nodes = PyMem_Calloc((size_t)n_nodes, sizeof(Node));
    f->value = PyMem_Calloc((size_t)n_nodes, sizeof(double));
    f->roots = PyMem_Calloc(trees, sizeof(int32_t));
    f->order = PyMem_Calloc(trees, sizeof(int32_t));
    f->depth = PyMem_Calloc(trees, sizeof(int32_t));
    f->baseline = PyMem_Calloc((size_t)k, sizeof(double));
    if (!f->nodes || !f->value || !f->roots || !f->order || !f->depth || !f->baseline) {
        PyErr_NoMemory();
        goto done;
    }
    if (fill_forest(f, b[0].buf, b[1].buf, b[2].buf, b[3].buf, b[4].buf) < 0)
        goto done;
    memcpy(f->baseline, b[5].buf, (size_t)k * sizeof(double));
    capsule = PyCapsule_New(f, CAPSULE_NAME, forest_free);
done:
    if (capsule == NULL && f != NULL)
        forest_release(f);
    for (int i = 0; i < held; i++)
        PyBuffer_Release(&b[i]);
    return capsule;
}

/* GROUP trees (or fewer, the last group) of one row, `steps` steps each: leaf[t] = each tree's leaf value.
 * A constant trip count lets the compiler keep the GROUP node ids in registers. */
#define WALK(count, z)                                                                                         \
    do {                                                                                                       \
        for (int32_t s = steps; s > 0; s--)                                                                    \
            for (int j = 0; j < (count); j++) {                                                                \
                const Node *n = &nodes[at[j]];                                                                 \
                at[j] = n->left + ((z)[n->col] > n->thr);                                                      \
            }                                                                                                  \
    } while (0)

/* z of one row: x with NaN read as +inf, x with NaN read as -inf, isnan(x) as 0/1. */
static void widen_row(Py_ssize_t d, const double *x, double *z) {
    for (Py_ssize_t c = 0; c < d; c++) {
        int missing = isnan(x[c]);
        z[c] = missing ? INFINITY : x[c];
        z[d + c] = missing ? -INFINITY : x[c];
        z[2 * d + c] = missing ? 1.0 : 0.0;
    }
}

/* Up to CHUNK rows: widen them all, then walk GROUP trees at a time (each group for its deepest tree's number
 * of steps: trees are sorted deepest first) for every row before the next group, so that a group's nodes stay
 * in the nearest cache while the rows pass through them; leaf[r * n_trees + t] = row r's leaf value of tree t.
 * Then each row's sums in scikit-learn's order. */
static void score_rows(const Forest *f, Py_ssize_t n, const double *x, double *z, double *leaf, double *out) {
    const Node *nodes = f->nodes;
    const Py_ssize_t d = f->d, width = 3 * f->d, n_trees = f->n_trees;
    for (Py_ssize_t r = 0; r < n; r++)
        widen_row(d, x + r * d, z + r * width);
    for (Py_ssize_t g = 0; g < n_trees; g += GROUP) {
        int m = n_trees - g < GROUP ? (int)(n_trees - g) : GROUP;
        int32_t steps = f->depth[f->order[g]];
        for (Py_ssize_t r = 0; r < n; r++) {
            const double *zr = z + r * width;
            int32_t at[GROUP];
            for (int j = 0; j < m; j++)
                at[j] = f->roots[f->order[g + j]];
            if (m == GROUP)
                WALK(GROUP, zr);
            else
                WALK(m, zr);
            for (int j = 0; j < m; j++)
                leaf[r * n_trees + f->order[g + j]] = f->value[at[j]];
        }
    }
    /* scikit-learn: zeros, += baseline (0.0 + -0.0 is +0.0: kept), then += each iteration's leaf value for
     * class t % k, iteration by iteration. Plain double additions in that order: the same bits. */
    for (Py_ssize_t r = 0; r < n; r++) {
        double *o = out + r * f->k;
        const double *lr = leaf + r * n_trees;
        for (Py_ssize_t c = 0; c < f->k; c++)
            o[c] = 0.0 + f->baseline[c];
        for (Py_ssize_t t = 0; t < n_trees; t++)
            o[t % f->k] += lr[t];
    }
}

static PyObject *raw_scores(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *capsule, *o_X, *o_out;
    if (!PyArg_ParseTuple(args, "OOO:raw_scores", &capsule, &o_X, &o_out))
        return NULL;
    const Forest *f = PyCapsule_GetPointer(capsule, CAPSULE_NAME);
    if (f == NULL)
        return NULL;
    Py_buffer X, out;
    if (get_buffer(o_X, &X, 2, 8, "d", 0, "X") < 0)
        return NULL;
    if (get_buffer(o_out, &out, 2, 8, "d", 1, "out") < 0) {
        PyBuffer_Release(&X);
        return NULL;
    }
    Py_ssize_t n = X.shape[0];
    double *leaf = NULL; /* CHUNK rows' leaf values (n_trees each), then their z (3d each) */
    Py_ssize_t chunk = n < CHUNK ? n : CHUNK;
    if (X.shape[1] != f->d || out.shape[0] != n || out.shape[1] != f->k)
        PyErr_SetString(PyExc_ValueError, "X must be (n, d) and out (n, k) for this forest");
    else if (n > 0 && (leaf = PyMem_Malloc((size_t)chunk * ((size_t)f->n_trees + 3 * (size_t)f->d) *
                                           sizeof(double))) == NULL)
        PyErr_NoMemory();
    else if (n > 0) {
        const double *rows = X.buf;
        double *scores = out.buf;
        double *z = leaf + chunk * f->n_trees;
        /* The forest is immutable after prepare and both buffers are held: safe without the GIL. */
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t r = 0; r < n; r += CHUNK) {
            Py_ssize_t m = n - r < CHUNK ? n - r : CHUNK;
            score_rows(f, m, rows + r * f->d, z, leaf, scores + r * f->k);
        }
        Py_END_ALLOW_THREADS
    }
    PyMem_Free(leaf);
    PyBuffer_Release(&X);
    PyBuffer_Release(&out);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"prepare", prepare, METH_VARARGS,
     "prepare(col, thr, left, value, roots, baseline, d, n_iter, k) -> forest: checked copy of the node tables"},
    {"raw_scores", raw_scores, METH_VARARGS,
     "raw_scores(forest, X, out): out[:] = baseline + the leaf values of every tree, in scikit-learn's order"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_trees", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__trees(void) { return PyModule_Create(&module); }
