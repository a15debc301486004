/* shmring_mex: the one MEX gateway between MATLAB/Octave and libshmring.
 *
 *   varargout = shmring_mex(command, args...)
 *
 * Handles are small integers into tables kept here; the classes in +shmring and
 * +io/+files wrap them. Every failure is mexErrMsgIdAndTxt with an identifier
 * "shmring:<what>" (shmring:timeout, shmring:notFound, shmring:layout, ...) and
 * libshmring's message, which names the ring or file and the numbers.
 * Arrays cross unchanged in memory: the caller (+shmring/Writer.put, Reader.get)
 * permutes between MATLAB's column-major order and the frame's C order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mex.h"
#include "shmring.h"

#define MAX_HANDLES 256
enum kind { K_LEGACY, K_RING, K_WRITER, K_READER, K_KINDS };
static void *handles[K_KINDS][MAX_HANDLES];
static const char *kind_names[K_KINDS] = {"SharedMem", "ring", "writer", "reader"};

static const char *error_id(int rc)
{
    switch (rc) {
    case SHMRING_ETIMEDOUT: return "shmring:timeout";
    case SHMRING_EWOULDBLOCK: return "shmring:wouldBlock";
    case SHMRING_ETOOLARGE: return "shmring:tooLarge";
    case SHMRING_ELAYOUT: return "shmring:layout";
    case SHMRING_ENOTFOUND: return "shmring:notFound";
    case SHMRING_EEXIST: return "shmring:exists";
    case SHMRING_EPERM: return "shmring:permission";
    case SHMRING_EBROKEN: return "shmring:broken";
    case SHMRING_ENOSPC: return "shmring:noSpace";
    case SHMRING_EINVAL: return "shmring:invalid";
    case SHMRING_ESCHEMA: return "shmring:schema";
    case SHMRING_EBUSY: return "shmring:busy";
    case SHMRING_ENOMEM: return "shmring:noMemory";
    case SHMRING_ECLOSED: return "shmring:closed";
    default: return "shmring:system";
    }
}

static void fail(int rc)
{
    mexErrMsgIdAndTxt(error_id(rc), "%s", shmring_errmsg());
}

static void check(int rc)
{
    if (rc < 0)
        fail(rc);
}

static void argcheck(int ok, const char *fmt, const char *what)
{
    if (!ok)
        mexErrMsgIdAndTxt("shmring:invalid", fmt, what);
}

/* ---- arguments ---- */

static char *string_arg(int nrhs, const mxArray *prhs[], int i, const char *what)
{
    argcheck(i < nrhs && mxIsChar(prhs[i]), "%s must be a character vector", what);
    char *s = mxArrayToString(prhs[i]);
    argcheck(s != NULL, "%s could not be read as text", what);
    return s; /* mxFree'd by MATLAB when the call ends */
}

static double number_arg(int nrhs, const mxArray *prhs[], int i, const char *what)
{
    argcheck(i < nrhs && (mxIsNumeric(prhs[i]) || mxIsLogical(prhs[i])) && mxGetNumberOfElements(prhs[i]) == 1 && !mxIsComplex(prhs[i]),
             "%s must be a real numeric scalar", what);
    return mxGetScalar(prhs[i]);
}

static uint32_t u32_arg(int nrhs, const mxArray *prhs[], int i, const char *what)
{
    double v = number_arg(nrhs, prhs, i, what);
    if (!(v >= 0 && v <= 4294967295.0 && v == (double)(uint64_t)v))
        mexErrMsgIdAndTxt("shmring:invalid", "%s must be an integer in 0..4294967295, got %g", what, v);
    return (uint32_t)v;
}

static void *handle_arg(int nrhs, const mxArray *prhs[], int i, enum kind k)
{
    double v = number_arg(nrhs, prhs, i, "handle");
    int h = (int)v;
    if (h < 1 || h >= MAX_HANDLES || v != (double)h || !handles[k][h])
        mexErrMsgIdAndTxt("shmring:closed", "this %s handle (%g) is closed or was never opened", kind_names[k], v);
    return handles[k][h];
}

static mxArray *new_handle(enum kind k, void *p)
{
    for (int h = 1; h < MAX_HANDLES; h++) {
        if (!handles[k][h]) {
            handles[k][h] = p;
            return mxCreateDoubleScalar(h);
        }
    }
    mexErrMsgIdAndTxt("shmring:busy", "more than %d %s handles open at once", MAX_HANDLES - 1, kind_names[k]);
    return NULL;
}

static void forget(int nrhs, const mxArray *prhs[], enum kind k)
{
    handle_arg(nrhs, prhs, 1, k);
    handles[k][(int)mxGetScalar(prhs[1])] = NULL;
}

static void close_all(void)
{
    /* clear mex / exit: readers and writers before their rings. */
    for (int h = 1; h < MAX_HANDLES; h++) {
        shmring_reader_close(handles[K_READER][h]);
        shmring_writer_close(handles[K_WRITER][h]);
        shmring_legacy_close(handles[K_LEGACY][h]);
    }
    for (int h = 1; h < MAX_HANDLES; h++)
        shmring_close(handles[K_RING][h]);
    memset(handles, 0, sizeof(handles));
}

static mxArray *bytes_row(const void *data, size_t n)
{
    mxArray *a = mxCreateNumericMatrix(1, n, mxUINT8_CLASS, mxREAL);
    if (n)
        memcpy(mxGetData(a), data, n);
    return a;
}

static void set_num(mxArray *s, const char *field, double v)
{
    mxSetField(s, 0, field, mxCreateDoubleScalar(v));
}

#include "shmring_mex_legacy.h"
#include "shmring_mex_ring.h"

struct command { const char *name; void (*fn)(int, mxArray **, int, const mxArray **); };

static const struct command commands[] = {
    LEGACY_COMMANDS
    RING_COMMANDS
};

void mexFunction(int nlhs, mxArray *plhs[], int nrhs, const mxArray *prhs[])
{
    static int registered;
    if (!registered) {
        mexAtExit(close_all);
        registered = 1;
    }
    char *cmd = string_arg(nrhs, prhs, 0, "the command");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(commands[i].name, cmd) == 0) {
            commands[i].fn(nlhs, plhs, nrhs, prhs);
            return;
        }
    }
    mexErrMsgIdAndTxt("shmring:invalid", "shmring_mex has no command \"%s\"", cmd);
}
