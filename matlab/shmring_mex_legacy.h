/* shmring_mex, part 2 (one translation unit with shmring_mex.c): the legacy
 * io.files.SharedMem commands over shmring_legacy_* (docs/format-legacy.md). */

static void legacy_create(int nlhs, mxArray **plhs, int nrhs, const mxArray **prhs)
{
    (void)nlhs;
    char *name = string_arg(nrhs, prhs, 1, "name");
    uint32_t item_size = u32_arg(nrhs, prhs, 2, "item_size");
    uint32_t item_alloc = u32_arg(nrhs, prhs, 3, "item_alloc");
    uint32_t mode = u32_arg(nrhs, prhs, 4, "mode");
    int exist_ok = number_arg(nrhs, prhs, 5, "exist_ok") != 0;
    shmring_legacy *m;
    check(shmring_legacy_create(name, item_size, item_alloc, mode, exist_ok, &m));
    plhs[0] = new_handle(K_LEGACY, m);
}

static void legacy_open(int nlhs, mxArray **plhs, int nrhs, const mxArray **prhs)
{
    (void)nlhs;
    shmring_legacy *m;
    check(shmring_legacy_open(string_arg(nrhs, prhs, 1, "name"), &m));
    plhs[0] = new_handle(K_LEGACY, m);
}

static void legacy_create_raw(int nlhs, mxArray **plhs, int nrhs, const mxArray **prhs)
{
    (void)nlhs;
    char *name = string_arg(nrhs, prhs, 1, "name");
    double size = number_arg(nrhs, prhs, 2, "size");
    int exist_ok = number_arg(nrhs, prhs, 3, "exist_ok") != 0;
    argcheck(size >= 1, "%s must be >= 1 byte", "size");
    shmring_legacy *m;
    check(shmring_legacy_create_raw(name, (uint64_t)size, 0, exist_ok, &m));
    plhs[0] = new_handle(K_LEGACY, m);
}

static void legacy_open_raw(int nlhs, mxArray **plhs, int nrhs, const mxArray **prhs)
{
    (void)nlhs;
    shmring_legacy *m;
    check(shmring_legacy_open_raw(string_arg(nrhs, prhs, 1, "name"), &m));
    plhs[0] = new_handle(K_LEGACY, m);
}

static void legacy_close(int nlhs, mxArray **plhs, int nrhs, const mxArray **prhs)
{
    (void)nlhs, (void)plhs;
    shmring_legacy *m = handle_arg(nrhs, prhs, 1, K_LEGACY);
    forget(nrhs, prhs, K_LEGACY);
    shmring_legacy_close(m);
}

static void legacy_delete(int nlhs, mxArray **plhs, int nrhs, const mxArray **prhs)
{
    (void)nlhs, (void)plhs;
    shmring_legacy *m = handle_arg(nrhs, prhs, 1, K_LEGACY);
    forget(nrhs, prhs, K_LEGACY);
    check(shmring_legacy_delete(m));
}

static void legacy_info(int nlhs, mxArray **plhs, int nrhs, const mxArray **prhs)
{
    (void)nlhs;
    shmring_legacy *m = handle_arg(nrhs, prhs, 1, K_LEGACY);
    static const char *fields[] = {"path", "size", "reattached", "put_counter", "raw", "signature", "memsize",
                                   "flags", "item_size", "item_alloc", "head", "tail", "count"};
    mxArray *s = mxCreateStructMatrix(1, 1, 13, fields);
    mxSetField(s, 0, "path", mxCreateString(shmring_legacy_file(m)));
    set_num(s, "size", (double)shmring_legacy_size(m));
    set_num(s, "reattached", shmring_legacy_reattached(m));
    set_num(s, "put_counter", shmring_legacy_put_counter(m));
    shmring_legacy_header h;
    int raw = shmring_legacy_read_header(m, &h) != SHMRING_OK;
    set_num(s, "raw", raw);
    if (!raw) {
        const uint32_t *w = &h.signature;
        for (int i = 0; i < 8; i++)
            set_num(s, fields[5 + i], w[i]);
    }
    plhs[0] = s;
}

static void legacy_put(int nlhs, mxArray **plhs, int nrhs, const mxArray **prhs)
{
    (void)nlhs;
    shmring_legacy *m = handle_arg(nrhs, prhs, 1, K_LEGACY);
    argcheck(nrhs > 2 && (mxIsNumeric(prhs[2]) || mxIsChar(prhs[2]) || mxIsLogical(prhs[2])) && !mxIsComplex(prhs[2]),
             "%s must be a real numeric, logical or char array", "data");
    size_t n = mxGetNumberOfElements(prhs[2]) * mxGetElementSize(prhs[2]);
    argcheck(n <= 4294967295u, "%s must be smaller than 4 GiB", "data");
    int rc = shmring_legacy_put(m, mxGetData(prhs[2]), (uint32_t)n, u32_arg(nrhs, prhs, 3, "width"),
                                u32_arg(nrhs, prhs, 4, "height"), u32_arg(nrhs, prhs, 5, "flags"));
    check(rc);
    plhs[0] = mxCreateLogicalScalar(rc == 1);
}

static void legacy_get(int nlhs, mxArray **plhs, int nrhs, const mxArray **prhs)
{
    shmring_legacy *m = handle_arg(nrhs, prhs, 1, K_LEGACY);
    double timeout = number_arg(nrhs, prhs, 2, "timeout");
    double poll = number_arg(nrhs, prhs, 3, "poll_interval");
    uint32_t unit = nrhs > 4 ? u32_arg(nrhs, prhs, 4, "item size") : 1;
    shmring_legacy_header h;
    check(shmring_legacy_read_header(m, &h));
    /* Room for the largest buffer; a re-created file with larger slots says
     * ETOOLARGE with its length, and we retry with that much room. */
    uint64_t cap = h.item_size;
    shmring_legacy_buf info;
    for (int attempt = 0; attempt < 3; attempt++) {
        void *buf = mxMalloc(cap ? cap : 1);
        int rc = shmring_legacy_get_items(m, buf, cap, unit ? unit : 1, &info, timeout, poll);
        if (rc == SHMRING_ETOOLARGE && info.buf_len > cap) {
            mxFree(buf);
            cap = info.buf_len;
            continue;
        }
        if (rc == SHMRING_ESCHEMA) /* left queued: not whole pixels of the class asked for */
            mexErrMsgIdAndTxt("shmring:frame", "%s", shmring_errmsg());
        check(rc);
        plhs[0] = rc == 1 ? bytes_row(buf, info.buf_len) : mxCreateNumericMatrix(0, 0, mxUINT8_CLASS, mxREAL);
        mxFree(buf);
        double vals[4] = {info.put_counter, info.width, info.height, info.flags};
        for (int i = 1; i < nlhs && i < 5; i++)
            plhs[i] = mxCreateDoubleScalar(rc == 1 ? vals[i - 1] : 0);
        return;
    }
    mexErrMsgIdAndTxt("shmring:broken", "%s keeps changing its item_size while being read", shmring_legacy_file(m));
}

static void legacy_read(int nlhs, mxArray **plhs, int nrhs, const mxArray **prhs)
{
    (void)nlhs;
    shmring_legacy *m = handle_arg(nrhs, prhs, 1, K_LEGACY);
    double pos = number_arg(nrhs, prhs, 2, "pos"), n = number_arg(nrhs, prhs, 3, "n");
    argcheck(pos >= 0 && n >= 0 && pos == (double)(uint64_t)pos && n == (double)(uint64_t)n,
             "%s must be integers >= 0", "pos and n");
    if (n > (double)shmring_legacy_size(m))
        mexErrMsgIdAndTxt("shmring:invalid", "read of %.0f bytes at %.0f is outside %s (%llu bytes)", n, pos,
                          shmring_legacy_file(m), (unsigned long long)shmring_legacy_size(m));
    mxArray *a = mxCreateNumericMatrix(1, (size_t)n, mxUINT8_CLASS, mxREAL);
    check(shmring_legacy_read(m, (uint64_t)pos, mxGetData(a), (uint64_t)n));
    plhs[0] = a;
}

static void legacy_write(int nlhs, mxArray **plhs, int nrhs, const mxArray **prhs)
{
    (void)nlhs, (void)plhs;
    shmring_legacy *m = handle_arg(nrhs, prhs, 1, K_LEGACY);
    double pos = number_arg(nrhs, prhs, 2, "pos");
    argcheck(pos >= 0 && pos == (double)(uint64_t)pos, "%s must be an integer >= 0", "pos");
    argcheck(nrhs > 3 && (mxIsUint8(prhs[3]) || mxIsInt8(prhs[3])), "%s must be a uint8 array", "data");
    check(shmring_legacy_write(m, (uint64_t)pos, mxGetData(prhs[3]), mxGetNumberOfElements(prhs[3])));
}

static void legacy_data_seq(int nlhs, mxArray **plhs, int nrhs, const mxArray **prhs)
{
    (void)nlhs;
    plhs[0] = mxCreateDoubleScalar(shmring_legacy_data_seq(handle_arg(nrhs, prhs, 1, K_LEGACY)));
}

static void legacy_wait(int nlhs, mxArray **plhs, int nrhs, const mxArray **prhs)
{
    (void)nlhs, (void)plhs;
    shmring_legacy *m = handle_arg(nrhs, prhs, 1, K_LEGACY);
    shmring_legacy_wait(m, u32_arg(nrhs, prhs, 2, "seen"), number_arg(nrhs, prhs, 3, "timeout"));
}

static void legacy_send(int nlhs, mxArray **plhs, int nrhs, const mxArray **prhs)
{
    (void)nlhs;
    char reply[256];
    char *path = string_arg(nrhs, prhs, 1, "path");
    char *text = string_arg(nrhs, prhs, 2, "text");
    check(shmring_legacy_send(path, text, reply, sizeof(reply), number_arg(nrhs, prhs, 3, "timeout"),
                              number_arg(nrhs, prhs, 4, "poll_interval")));
    plhs[0] = mxCreateString(reply);
}

static void legacy_answer(int nlhs, mxArray **plhs, int nrhs, const mxArray **prhs)
{
    (void)nlhs;
    char request[256];
    char *path = string_arg(nrhs, prhs, 1, "path");
    check(shmring_legacy_answer(path, request, sizeof(request), number_arg(nrhs, prhs, 2, "timeout"),
                                number_arg(nrhs, prhs, 3, "poll_interval")));
    plhs[0] = mxCreateString(request);
}

static void legacy_path(int nlhs, mxArray **plhs, int nrhs, const mxArray **prhs)
{
    (void)nlhs;
    char path[4096];
    check(shmring_legacy_path(string_arg(nrhs, prhs, 1, "name"), path, sizeof(path)));
    plhs[0] = mxCreateString(path);
}

#define LEGACY_COMMANDS                                                                               \
    {"legacy_create", legacy_create}, {"legacy_open", legacy_open}, {"legacy_create_raw", legacy_create_raw}, \
    {"legacy_open_raw", legacy_open_raw}, {"legacy_close", legacy_close}, {"legacy_delete", legacy_delete},   \
    {"legacy_info", legacy_info}, {"legacy_put", legacy_put}, {"legacy_get", legacy_get},                     \
    {"legacy_read", legacy_read}, {"legacy_write", legacy_write}, {"legacy_data_seq", legacy_data_seq},       \
    {"legacy_wait", legacy_wait}, {"legacy_send", legacy_send}, {"legacy_answer", legacy_answer},             \
    {"legacy_path", legacy_path},
