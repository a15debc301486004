/* shmring_mex, part 3 (one translation unit with shmring_mex.c): native rings,
 * writers and readers over libshmring's shmring_* API (docs/c.md). */

static const struct { mxClassID cls; const char *dtype; } dtypes[] = {
    {mxUINT8_CLASS, "|u1"},  {mxINT8_CLASS, "|i1"},   {mxUINT16_CLASS, "<u2"}, {mxINT16_CLASS, "<i2"},
    {mxUINT32_CLASS, "<u4"}, {mxINT32_CLASS, "<i4"},  {mxUINT64_CLASS, "<u8"}, {mxINT64_CLASS, "<i8"},
    {mxSINGLE_CLASS, "<f4"}, {mxDOUBLE_CLASS, "<f8"}, {mxLOGICAL_CLASS, "|b1"},
};
#define N_DTYPES (sizeof(dtypes) / sizeof(dtypes[0]))

static void ring_create(int nlhs, mxArray **plhs, int nrhs, const mxArray **prhs)
{
    (void)nlhs;
    char *name = string_arg(nrhs, prhs, 1, "name");
    shmring_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.slots = u32_arg(nrhs, prhs, 2, "slots");
    double slot_bytes = number_arg(nrhs, prhs, 3, "slot_bytes");
    argcheck(slot_bytes >= 1 && slot_bytes == (double)(uint64_t)slot_bytes, "%s must be an integer >= 1", "slot_bytes");
    cfg.slot_bytes = (uint64_t)slot_bytes;
    cfg.meta_bytes = u32_arg(nrhs, prhs, 4, "meta_bytes");
    cfg.policy = (int)u32_arg(nrhs, prhs, 5, "policy");
    cfg.mode = u32_arg(nrhs, prhs, 6, "mode");
    shmring_ring *r;
    check(shmring_create(name, &cfg, &r));
    plhs[0] = new_handle(K_RING, r);
}

static void ring_open(int nlhs, mxArray **plhs, int nrhs, const mxArray **prhs)
{
    (void)nlhs;
    shmring_ring *r;
    check(shmring_open(string_arg(nrhs, prhs, 1, "name"), &r));
    plhs[0] = new_handle(K_RING, r);
}

static void ring_close(int nlhs, mxArray **plhs, int nrhs, const mxArray **prhs)
{
    (void)nlhs, (void)plhs;
    shmring_ring *r = handle_arg(nrhs, prhs, 1, K_RING);
    forget(nrhs, prhs, K_RING);
    shmring_close(r);
}

static void ring_unlink(int nlhs, mxArray **plhs, int nrhs, const mxArray **prhs)
{
    (void)nlhs, (void)plhs;
    check(shmring_unlink(string_arg(nrhs, prhs, 1, "name")));
}

static void ring_info(int nlhs, mxArray **plhs, int nrhs, const mxArray **prhs)
{
    (void)nlhs;
    shmring_ring *r = handle_arg(nrhs, prhs, 1, K_RING);
    static const char *fields[] = {"slots", "slot_bytes", "meta_bytes", "policy", "write_seq"};
    uint32_t slots, meta_bytes;
    uint64_t slot_bytes;
    int policy;
    shmring_ring_sizes(r, &slots, &slot_bytes, &meta_bytes, &policy);
    mxArray *s = mxCreateStructMatrix(1, 1, 5, fields);
    set_num(s, "slots", slots);
    set_num(s, "slot_bytes", (double)slot_bytes);
    set_num(s, "meta_bytes", meta_bytes);
    set_num(s, "policy", policy);
    set_num(s, "write_seq", (double)shmring_write_seq(r));
    plhs[0] = s;
}

static void writer_open(int nlhs, mxArray **plhs, int nrhs, const mxArray **prhs)
{
    (void)nlhs;
    shmring_ring *r = handle_arg(nrhs, prhs, 1, K_RING);
    int shared = number_arg(nrhs, prhs, 2, "shared") != 0;
    shmring_writer *w;
    check(shared ? shmring_writer_open_shared(r, &w) : shmring_writer_open(r, &w));
    plhs[0] = new_handle(K_WRITER, w);
}

static void writer_close(int nlhs, mxArray **plhs, int nrhs, const mxArray **prhs)
{
    (void)nlhs, (void)plhs;
    shmring_writer *w = handle_arg(nrhs, prhs, 1, K_WRITER);
    forget(nrhs, prhs, K_WRITER);
    shmring_writer_close(w);
}

/* put(w, A, shape, flags, meta, timeout): A's bytes as they lie, with the C-order shape given. */
static void ring_put(int nlhs, mxArray **plhs, int nrhs, const mxArray **prhs)
{
    (void)nlhs, (void)plhs;
    shmring_writer *w = handle_arg(nrhs, prhs, 1, K_WRITER);
    argcheck(nrhs > 2 && !mxIsComplex(prhs[2]), "%s must be a real array", "the frame");
    shmring_frame_info info;
    memset(&info, 0, sizeof(info));
    size_t k = 0;
    while (k < N_DTYPES && dtypes[k].cls != mxGetClassID(prhs[2]))
        k++;
    if (k == N_DTYPES)
        mexErrMsgIdAndTxt("shmring:invalid", "a frame must be numeric or logical, not %s", mxGetClassName(prhs[2]));
    memcpy(info.dtype, dtypes[k].dtype, strlen(dtypes[k].dtype)); /* NUL padded: info was zeroed */
    info.nbytes = (uint64_t)mxGetNumberOfElements(prhs[2]) * mxGetElementSize(prhs[2]);
    argcheck(nrhs > 3 && mxIsDouble(prhs[3]) && mxGetNumberOfElements(prhs[3]) <= 4, "%s must be a double vector of 0..4 dims",
             "shape");
    info.ndim = (uint32_t)mxGetNumberOfElements(prhs[3]);
    const double *shape = mxGetPr(prhs[3]);
    for (uint32_t i = 0; i < info.ndim; i++)
        info.shape[i] = (uint64_t)shape[i];
    info.flags = u32_arg(nrhs, prhs, 4, "flags");
    char *meta = string_arg(nrhs, prhs, 5, "meta");
    info.meta = meta;
    info.meta_len = (uint32_t)strlen(meta);
    check(shmring_put(w, mxGetData(prhs[2]), &info, number_arg(nrhs, prhs, 6, "timeout")));
}

static void reader_open(int nlhs, mxArray **plhs, int nrhs, const mxArray **prhs)
{
    (void)nlhs;
    shmring_ring *r = handle_arg(nrhs, prhs, 1, K_RING);
    char *name = string_arg(nrhs, prhs, 2, "reader name");
    int queue = number_arg(nrhs, prhs, 3, "queue") != 0;
    int start = (int)u32_arg(nrhs, prhs, 4, "start");
    shmring_reader *rd;
    check(shmring_reader_open_at(r, *name ? name : NULL, queue, start, &rd));
    plhs[0] = new_handle(K_READER, rd);
}

static void reader_close(int nlhs, mxArray **plhs, int nrhs, const mxArray **prhs)
{
    (void)nlhs, (void)plhs;
    shmring_reader *rd = handle_arg(nrhs, prhs, 1, K_READER);
    forget(nrhs, prhs, K_READER);
    shmring_reader_close(rd);
}

static mxArray *frame_info(const shmring_frame_info *info)
{
    static const char *fields[] = {"seq", "lost", "timestamp_ns", "flags", "dtype", "shape", "meta_json"};
    mxArray *s = mxCreateStructMatrix(1, 1, 7, fields);
    set_num(s, "seq", (double)info->seq);
    set_num(s, "lost", (double)info->lost);
    set_num(s, "timestamp_ns", (double)info->timestamp_ns);
    set_num(s, "flags", info->flags);
    char dtype[9];
    memcpy(dtype, info->dtype, 8);
    dtype[8] = '\0';
    mxSetField(s, 0, "dtype", mxCreateString(dtype));
    mxArray *shape = mxCreateDoubleMatrix(1, info->ndim, mxREAL);
    for (uint32_t i = 0; i < info->ndim; i++)
        mxGetPr(shape)[i] = (double)info->shape[i];
    mxSetField(s, 0, "shape", shape);
    char *meta = mxMalloc(info->meta_len + 1);
    if (info->meta_len)
        memcpy(meta, info->meta, info->meta_len);
    meta[info->meta_len] = '\0';
    mxSetField(s, 0, "meta_json", mxCreateString(meta));
    mxFree(meta);
    return s;
}

/* The payload as an array of the dtype's class with the C-order shape reversed:
 * the same memory read column-major (the caller permutes it back). */
static mxArray *frame_array(const void *payload, const shmring_frame_info *info)
{
    size_t k = 0;
    while (k < N_DTYPES && strncmp(dtypes[k].dtype, info->dtype, 8) != 0)
        k++;
    mwSize dims[4] = {1, 1, 1, 1};
    mwSize nd = info->ndim < 2 ? 2 : info->ndim;
    if (k == N_DTYPES) { /* a dtype MATLAB has no class for: its bytes */
        dims[0] = (mwSize)info->nbytes;
        nd = 2;
        k = 0;
    } else {
        for (uint32_t i = 0; i < info->ndim; i++)
            dims[i] = (mwSize)info->shape[info->ndim - 1 - i];
    }
    mxArray *a = dtypes[k].cls == mxLOGICAL_CLASS ? mxCreateLogicalArray(nd, dims)
                                                  : mxCreateNumericArray(nd, dims, dtypes[k].cls, mxREAL);
    if (info->nbytes)
        memcpy(mxGetData(a), payload, info->nbytes);
    return a;
}

/* get(r, timeout, latest) -> [A, info] */
static void ring_get(int nlhs, mxArray **plhs, int nrhs, const mxArray **prhs)
{
    shmring_reader *rd = handle_arg(nrhs, prhs, 1, K_READER);
    double timeout = number_arg(nrhs, prhs, 2, "timeout");
    int latest = number_arg(nrhs, prhs, 3, "latest") != 0;
    for (;;) {
        const void *payload;
        shmring_frame_info info;
        int rc;
        if (latest) { /* jump to the newest, then view it */
            static char none[1];
            payload = none;
            rc = shmring_latest(rd, none, 0, &info, timeout);
            if (rc == SHMRING_ETOOLARGE) /* the newest frame stays unread when it does not fit: view it */
                rc = shmring_get_view(rd, &payload, &info, 0);
        } else {
            rc = shmring_get_view(rd, &payload, &info, timeout);
        }
        check(rc);
        mxArray *a = frame_array(payload, &info);
        if (!shmring_view_valid(rd)) { /* overwritten while copying: never return a torn frame */
            mxDestroyArray(a);
            shmring_release(rd);
            continue;
        }
        plhs[0] = a;
        if (nlhs > 1)
            plhs[1] = frame_info(&info);
        shmring_release(rd);
        return;
    }
}

#define RING_COMMANDS                                                                                  \
    {"ring_create", ring_create}, {"ring_open", ring_open}, {"ring_close", ring_close},                \
    {"ring_unlink", ring_unlink}, {"ring_info", ring_info}, {"writer_open", writer_open},              \
    {"writer_close", writer_close}, {"put", ring_put}, {"reader_open", reader_open},                   \
    {"reader_close", reader_close}, {"get", ring_get},
