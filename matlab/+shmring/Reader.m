classdef Reader < shmring.Endpoint
    % Reader  Takes frames from a native ring, each as the array that was put.
    %
    %   r = shmring.Reader(ring)            % or shmring.Reader('cam0')
    %   r = shmring.Reader(ring, 'Start', 'oldest')   % 'next' (default), 'oldest', 'latest'
    %   r = shmring.Reader(ring, 'Queue', true)       % share frames with other queue readers
    %   [A, info] = get(r, 1.0)             % waits up to 1 s: shmring:timeout after
    %   [A, info] = latest(r, 1.0)          % skip the backlog (counted in info.lost)
    %   close(r)
    %
    % A has the frame's class (uint16 for numpy '<u2', single for '<f4', ...)
    % and size == the frame's shape, with A(i, j, ...) == frame[i-1, j-1, ...]
    % (see shmring.Writer for the column-major rule): an image numpy holds as
    % (height, width) is an height-by-width matrix here, so imagesc(A) shows
    % what matplotlib's imshow shows. A 1-d frame of N values is an N-by-1
    % column. info is a struct: seq, lost, timestamp (s since 1970, UTC),
    % timestamp_ns, flags, dtype, shape, meta (a struct of the keywords),
    % comments (keywords that carried a comment) and meta_json (the text).

    properties (SetAccess = private)
        Lost = 0 % frames this reader missed so far
        Received = 0
    end
    properties (Constant, Access = protected)
        CloseCommand = 'reader_close'
        Role = 'reader'
    end

    methods
        function r = Reader(ring, varargin)
            % Reader  Attach a reader. Options: 'Start', 'Queue', 'Name' (up to 8 ASCII characters).
            opts = shmring.Ring.options(struct('start', 'next', 'queue', false, 'name', ''), varargin);
            start = find(strcmp(opts.start, {'next', 'oldest', 'latest'})) - 1;
            if isempty(start)
                error('shmring:invalid', 'Start must be ''next'', ''oldest'' or ''latest'', got ''%s''', opts.start);
            end
            r.attached(shmring_mex('reader_open', r.attachRing(ring), opts.name, opts.queue, start));
        end

        function [A, info] = get(r, timeout)
            % get  The next frame, waiting up to TIMEOUT seconds (default 1; Inf waits forever).
            %   Errors: shmring:timeout, shmring:broken (ring removed or re-created).
            if nargin < 2, timeout = 1; end
            [A, info] = take(r, timeout, false);
        end

        function [A, info] = latest(r, timeout)
            % latest  Jump to the newest frame (the backlog counts as lost) and get it.
            if nargin < 2, timeout = 1; end
            [A, info] = take(r, timeout, true);
        end
    end

    methods (Access = private)
        function [A, info] = take(r, timeout, newest)
            r.requireAttached();
            [A, raw] = shmring_mex('get', r.Handle, shmring.Ring.seconds(timeout, 'timeout'), newest);
            as_bytes = isa(A, 'uint8') && ~strcmp(raw.dtype, '|u1');  % a dtype MATLAB has no class for
            if numel(raw.shape) >= 2 && ~as_bytes
                A = permute(A, numel(raw.shape):-1:1);  % back from C order (the MEX reversed the shape)
            end
            r.Lost = r.Lost + raw.lost;
            r.Received = r.Received + 1;
            info = raw;
            info.timestamp = raw.timestamp_ns / 1e9;
            [info.meta, info.comments] = shmring.Reader.keywords(raw.meta_json);
        end
    end

    methods (Static, Hidden)
        function [meta, comments] = keywords(text)
            % keywords  Frame metadata (docs/format.md, "Metadata") as a struct of keywords.
            %   Object form: each keyword a field. Card form ([keyword, value, comment] cards):
            %   each keyword a field holding its value, its comment (if any) in COMMENTS;
            %   COMMENT, HISTORY and blank cards collect in cell arrays of text (fields
            %   COMMENT, HISTORY, BLANK); keywords that are no MATLAB name (HIERARCH ones,
            %   'ESO DET DIT') become valid names ('ESO_DET_DIT'). Text that is neither form
            %   yields an empty struct.
            meta = struct();
            comments = struct();
            if isempty(text)
                return;
            end
            try
                decoded = jsondecode(text);
            catch
                return;
            end
            if iscell(decoded)
                [meta, comments] = shmring.Reader.cards(decoded);
            elseif isstruct(decoded) && isscalar(decoded)
                meta = decoded;
            end
        end

        function [meta, comments] = cards(list)
            % cards  The card form: a cell array of {keyword, value, comment} cells.
            meta = struct();
            comments = struct();
            for k = 1:numel(list)
                card = list{k};
                if ~iscell(card) || numel(card) ~= 3 || ~ischar(card{1})
                    continue;  % not a card: skip it, keep the rest
                end
                [key, value, comment] = card{:};
                commentary = any(strcmp(key, {'COMMENT', 'HISTORY', ''}));
                if commentary
                    if isempty(key)
                        key = 'BLANK';
                    end
                    if ~isfield(meta, key)
                        meta.(key) = {};
                    end
                    meta.(key){end + 1} = value;
                    continue;
                end
                field = regexprep(key, '[^A-Za-z0-9_]', '_');  % the same in MATLAB and Octave
                if isempty(regexp(field, '^[A-Za-z]', 'once'))
                    field = ['x' field];
                end
                meta.(field) = value;
                if ischar(comment) && ~isempty(comment)
                    comments.(field) = comment;
                end
            end
        end
    end
end
