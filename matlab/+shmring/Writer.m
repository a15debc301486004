classdef Writer < shmring.Endpoint
    % Writer  Puts frames into a native ring.
    %
    %   w = shmring.Writer(ring)            % or shmring.Writer('cam0'); 'Shared', true for several writers
    %   put(w, A)                           % A keeps its class and shape
    %   put(w, A, struct('EXPTIME', 0.5, 'OBJECT', 'M31'))   % metadata: FITS-like keywords
    %   put(w, A, meta, 'Flags', 1, 'Timeout', 2)   % block policy: wait at most 2 s for room
    %   close(w)
    %
    % Column-major rule: MATLAB holds A(i,j) at i + (j-1)*rows, C and numpy at
    % i*cols + j. put stores A as a C-order frame of shape size(A) with
    % frame[i-1, j-1, ...] == A(i, j, ...) (it permutes the dimensions, so an
    % H-by-W image is the frame (H, W) numpy shows the same way). Reader.get
    % undoes it, so get(put(A)) == A, class and size included.

    properties (Constant, Access = protected)
        CloseCommand = 'writer_close'
        Role = 'writer'
    end

    methods
        function w = Writer(ring, varargin)
            % Writer  Attach the ring's writer (shmring:wouldBlock if another live writer has it).
            opts = shmring.Ring.options(struct('shared', false), varargin);
            w.attached(shmring_mex('writer_open', w.attachRing(ring), opts.shared));
        end

        function put(w, A, meta, varargin)
            % put  Copy frame A (numeric or logical, real) into the ring with metadata META.
            %   META: a struct of keywords (encoded as a JSON object) or JSON text.
            %   Options: 'Flags' (uint32 user flags), 'Timeout' (s, block policy; Inf, the default, waits forever).
            %   Errors: shmring:tooLarge (frame larger than the slot), shmring:timeout, ...
            if nargin < 3 || isempty(meta)
                meta = '';
            elseif isstruct(meta)
                meta = jsonencode(meta);
            elseif ~ischar(meta)
                error('shmring:invalid', 'meta must be a struct or JSON text, not %s', class(meta));
            end
            opts = shmring.Ring.options(struct('flags', 0, 'timeout', Inf), varargin);
            w.requireAttached();
            shape = size(A);
            A = permute(A, ndims(A):-1:1);  % C order: the last dimension varies fastest
            shmring_mex('put', w.Handle, A, double(shape), opts.flags, meta, shmring.Ring.seconds(opts.timeout, 'Timeout'));
        end
    end
end
