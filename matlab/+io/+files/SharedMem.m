classdef SharedMem < handle
    % SharedMem  The original io.files.SharedMem queue of image buffers, working.
    %
    %   m = io.files.SharedMem(name)                      % a handle on a name, nothing opened
    %   m = io.files.SharedMem(name, item_size, item_alloc) % create (or adopt) a queue and open it
    %
    % name 'camera1' means /tmp/smem_camera1, as in the original; a name with
    % a '/' is a path. The bytes are those of docs/format-legacy.md, shared
    % with the original C++ grabber, the original Python code and shmring
    % (Python shmring.legacy.SharedMem, C shmring_legacy_*). Every header
    % update holds the file's Locker (a kernel lock freed when its holder
    % dies), and shmring peers wake each other at once; original peers are
    % seen within PollInterval seconds. Errors have identifiers shmring:*.
    %
    % Orientation: putBuf(m, A) of an H-by-W matrix stores width W, height H
    % and the pixels row by row (as C and numpy hold an image), so a numpy
    % reader gets shape (H, W) and getBuf here returns the same H-by-W
    % matrix: imagesc shows the same picture on both sides.

    properties (SetAccess = private)
        Name = ''       % the name or path given
        Path = ''       % the file
    end
    properties
        PollInterval = 0.01  % longest sleep between looks, seconds (original peers cannot wake us)
    end
    properties (Access = private)
        Handle = 0
    end

    methods
        function m = SharedMem(name, item_size, item_alloc)
            % SharedMem  A handle on NAME; with ITEM_SIZE and ITEM_ALLOC, open (creating if needed) the queue.
            if nargin < 1 || ~ischar(name) || isempty(name)
                error('shmring:invalid', 'SharedMem needs a name or path as a character vector');
            end
            m.Name = name;
            m.Path = shmring_mex('legacy_path', name);
            if nargin >= 3
                open(m, item_size, item_alloc);
            end
        end

        function open(m, item_size, item_alloc)
            % open  open(m): an existing queue. open(m, item_size, item_alloc): create or adopt it.
            %   open(m, 'raw') opens any existing file for read/write; open(m, 'raw', size) creates it.
            close(m);
            if nargin >= 2 && ischar(item_size) && strcmp(item_size, 'raw')
                if nargin >= 3
                    m.Handle = shmring_mex('legacy_create_raw', m.Path, item_alloc, 1);
                else
                    m.Handle = shmring_mex('legacy_open_raw', m.Path);
                end
            elseif nargin >= 3
                m.Handle = shmring_mex('legacy_create', m.Path, item_size, item_alloc, 0, 1);
            else
                m.Handle = shmring_mex('legacy_open', m.Path);
            end
        end

        function tf = isOpen(m)
            % isOpen  Whether this handle has the file open.
            tf = m.Handle ~= 0;
        end

        function close(m)
            % close  Close file (this handle; the file stays for other processes).
            if m.Handle ~= 0
                h = m.Handle;
                m.Handle = 0;
                shmring_mex('legacy_close', h);
            end
        end

        function delete(m)
            % delete  The destructor (also run by clear): closes this handle; the file stays.
            %   MATLAB calls delete whenever the object goes away, so it must
            %   not remove a queue other processes use: unlink(m) does that.
            close(m);
        end

        function unlink(m)
            % unlink  Remove the file (if its name still names the file opened) and close.
            h = requireOpen(m);
            m.Handle = 0;
            shmring_mex('legacy_delete', h);
        end

        function s = header(m)
            % header  The MemHeader and this handle's counters, as a struct.
            s = shmring_mex('legacy_info', requireOpen(m));
        end

        function data = read(m, pos, n)
            % read  Read buffer from shared-memory: N bytes at byte offset POS (0-based), as uint8.
            if nargin < 2, pos = 0; end
            h = requireOpen(m);
            if nargin < 3
                info = shmring_mex('legacy_info', h);
                n = info.size - pos;
            end
            data = shmring_mex('legacy_read', h, pos, n);
        end

        function write(m, pos, data)
            % write  Write buffer to shared-memory: DATA (uint8 or char) at byte offset POS (0-based).
            if ischar(data)
                data = uint8(data);
            end
            shmring_mex('legacy_write', requireOpen(m), pos, uint8(data));
        end

        function [buf, put_counter, width, height, flags] = doGetBuf(m)
            % doGetBuf  Get next buffer from shared-memory, or [] if the queue is empty (no wait).
            %   [buf, put_counter, width, height, flags], buf a uint8 row of the bytes.
            [buf, put_counter, width, height, flags] = shmring_mex('legacy_get', requireOpen(m), 0, m.PollInterval);
        end

        function [buf, put_counter, width, height, flags] = getBuf(m, timeout, cls, width_, height_)
            % getBuf  Return buf, put_counter, w, h: the next buffer, waiting up to TIMEOUT seconds (0).
            %   getBuf(m, timeout, 'uint16') returns the pixels as uint16, an
            %   height-by-width matrix when the BufHeader's sizes agree with
            %   the length (else a row); WIDTH_/HEIGHT_ override the header.
            %   Empty buf: nothing arrived. A length that is no multiple of
            %   the class's size is an error (shmring:frame); the buffer stays queued.
            if nargin < 2 || isempty(timeout), timeout = 0; end
            if nargin < 3 || isempty(cls), cls = 'uint8'; end
            probe = zeros(1, 1, cls);
            bytes = numel(typecast(probe(:), 'uint8'));
            [raw, put_counter, width, height, flags] = shmring_mex('legacy_get', requireOpen(m), ...
                shmring.Ring.seconds(timeout, 'timeout'), m.PollInterval, bytes);
            if nargin >= 5
                width = width_;
                height = height_;
            end
            buf = raw;
            if isempty(raw)
                return;
            end
            buf = io.files.SharedMem.asPixels(raw, cls, width, height);
        end

        function stored = putBuf(m, data, width, height, flags)
            % putBuf  Append a buffer; false when the queue is full (it is dropped, as the original).
            %   An H-by-W (or H-by-W-by-C) array is stored row by row with width W
            %   and height H unless WIDTH/HEIGHT are given, as getBuf and numpy read it.
            if nargin < 5, flags = 0; end
            if nargin < 4 || isempty(height), height = size(data, 1); end
            if nargin < 3 || isempty(width), width = size(data, 2); end
            if ischar(data)
                data = uint8(data);
            end
            % Row-major bytes, as C and numpy hold an image: an H-by-W(-by-C) array
            % goes pixel by pixel along each row (channels innermost).
            data = permute(data, ndims(data):-1:1);
            stored = shmring_mex('legacy_put', requireOpen(m), data, width, height, flags);
        end

        function reply = send(m, text, timeout)
            % send  Send TEXT to whoever runs answer on this (256-byte message) file; return the reply.
            if nargin < 3, timeout = 5; end
            reply = shmring_mex('legacy_send', m.Path, text, shmring.Ring.seconds(timeout, 'timeout'), m.PollInterval);
        end

        function request = answer(m, timeout)
            % answer  Respond to SEND: wait (TIMEOUT s, default Inf: forever) for a message, upper-case it in place.
            if nargin < 2, timeout = Inf; end
            request = shmring_mex('legacy_answer', m.Path, shmring.Ring.seconds(timeout, 'timeout'), m.PollInterval);
        end
    end

    methods (Static)
        function sent = unitTestServerSide(name, count, interval)
            % unitTestServerSide  Write the current time string at offset 0 of a header-less file, COUNT times.
            if nargin < 2, count = 10; end
            if nargin < 3, interval = 0.1; end
            m = io.files.SharedMem(name);
            open(m, 'raw', 1024);
            sent = cell(1, count);
            for k = 1:count
                text = datestr(now, 'yyyy-mm-dd HH:MM:SS.FFF');
                write(m, 0, [uint8(text), zeros(1, 100 - numel(text), 'uint8')]);
                sent{k} = text;
                fprintf('%s\n', text);
                if k < count
                    pause(interval);
                end
            end
            close(m);
        end

        function got = unitTestClientSide(name, count, seconds)
            % unitTestClientSide  Simple test - read string from shared memory; print each new one.
            if nargin < 2, count = 5; end
            if nargin < 3, seconds = 10; end
            m = io.files.SharedMem(name);
            open(m, 'raw');
            got = {};
            last = '';
            stop = tic;
            while numel(got) < count && toc(stop) < seconds
                seen = shmring_mex('legacy_data_seq', requireOpen(m));
                raw = read(m, 0, min(100, m.header().size));
                text = char(raw(raw ~= 0));
                if ~isempty(text) && ~strcmp(text, last)
                    fprintf('%s\n', text);
                    got{end + 1} = text; %#ok<AGROW>
                    last = text;
                else
                    shmring_mex('legacy_wait', requireOpen(m), seen, m.PollInterval);
                end
            end
            close(m);
        end

        function summary = unitTestClientSideBuf(name, count, seconds)
            % unitTestClientSideBuf  Read next buffer from shared-memory queue; report gaps in put_counter.
            if nargin < 2, count = Inf; end
            if nargin < 3, seconds = 1; end
            m = io.files.SharedMem(name);
            open(m);
            summary = struct('received', 0, 'dropped', 0, 'gaps', 0, 'counters', []);
            last = [];
            stop = tic;
            while summary.received < count && toc(stop) < seconds
                [buf, counter, w, h, flags] = getBuf(m, min(0.1, max(0, seconds - toc(stop))));
                if isempty(buf)
                    continue;
                end
                if ~isempty(last) && counter ~= last + 1
                    fprintf('gap: put_counter %d -> %d: %d dropped\n', last, counter, counter - last - 1);
                    summary.dropped = summary.dropped + counter - last - 1;
                    summary.gaps = summary.gaps + 1;
                end
                fprintf('buffer put_counter=%d bytes=%d %dx%d flags=0x%08x\n', counter, numel(buf), w, h, flags);
                summary.received = summary.received + 1;
                summary.counters(end + 1) = counter;
                last = counter;
            end
            close(m);
        end

        function ok = unitTest(name)
            % unitTest  In-process self-test of one queue and one raw file; errors on the first failure.
            if nargin < 1, name = sprintf('unittest_%d', floor(rand * 1e9)); end
            m = io.files.SharedMem(name, 64, 2);
            cleanup = onCleanup(@() unlink(m));
            img = uint16([1 2 3; 4 5 6]);
            assert(putBuf(m, img, [], [], 2), 'shmring:unitTest', 'first put not stored');
            assert(putBuf(m, uint8(7)), 'shmring:unitTest', 'second put not stored');
            assert(~putBuf(m, uint8(8)), 'shmring:unitTest', 'a third put into 2 slots was stored');
            [got, c, w, h, f] = getBuf(m, 0, 'uint16');
            assert(isequal(got, img) && c == 1 && w == 3 && h == 2 && f == 2, 'shmring:unitTest', 'first get differs');
            [got, c] = getBuf(m);
            assert(isequal(got, uint8(7)) && c == 2, 'shmring:unitTest', 'second get differs');
            assert(isempty(doGetBuf(m)), 'shmring:unitTest', 'queue not empty after two gets');
            ok = true;
        end
    end

    methods (Static, Access = private)
        function buf = asPixels(raw, cls, width, height)
            buf = typecast(raw, cls);
            if width > 0 && height > 0 && mod(numel(buf), width * height) == 0
                channels = numel(buf) / (width * height);
                if channels == 1
                    buf = reshape(buf, width, height).';
                else
                    buf = permute(reshape(buf, channels, width, height), [3 2 1]);
                end
            end
        end
    end

    methods (Access = private)
        function h = requireOpen(m)
            if m.Handle == 0
                error('shmring:closed', 'SharedMem %s is not open: call open first', m.Path);
            end
            h = m.Handle;
        end
    end
end
