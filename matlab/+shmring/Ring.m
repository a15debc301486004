classdef Ring < handle
    % Ring  A native shmring ring (docs/format.md), shared with Python and C programs.
    %
    %   ring = shmring.Ring.create('cam0', 'SlotBytes', 640*480*2, 'Slots', 8)
    %   ring = shmring.Ring.open('cam0')
    %   w = shmring.Writer(ring);  r = shmring.Reader(ring);
    %   close(ring)                       % after its writers and readers
    %   shmring.Ring.unlink('cam0')       % remove the name for everyone
    %
    % A name lives in $SHMRING_DIR (default /dev/shm); a name with a '/' is a
    % path. Errors carry identifiers: shmring:notFound, shmring:exists,
    % shmring:layout, shmring:invalid, shmring:busy, ...

    properties (SetAccess = private)
        Name = ''        % the name or path given
        Slots = 0        % frame slots
        SlotBytes = 0    % largest payload of one frame, bytes
        MetaBytes = 0    % largest metadata of one frame, bytes
        Policy = ''      % 'overwrite', 'block' or 'drop': what a writer does when the ring is full
    end
    properties (SetAccess = private)
        Children = 0     % writers and readers open on this handle
    end
    properties (SetAccess = private, Hidden)
        Handle = 0
    end

    methods (Static)
        function ring = create(name, varargin)
            % create  Create a ring and open it. Options: 'SlotBytes' (required), 'Slots' (8),
            %   'MetaBytes' (4096), 'Policy' ('overwrite' | 'block' | 'drop'), 'Mode' (0600).
            opts = struct('slotbytes', 0, 'slots', 0, 'metabytes', 0, 'policy', 'overwrite', 'mode', 0);
            opts = shmring.Ring.options(opts, varargin);
            policy = find(strcmp(opts.policy, {'overwrite', 'block', 'drop'})) - 1;
            if isempty(policy)
                error('shmring:invalid', 'Policy must be ''overwrite'', ''block'' or ''drop'', got ''%s''', opts.policy);
            end
            ring = shmring.Ring(name, shmring_mex('ring_create', name, opts.slots, opts.slotbytes, opts.metabytes, ...
                                                  policy, opts.mode));
        end

        function ring = open(name)
            % open  Open an existing ring (shmring:notFound if there is none, shmring:layout if not a ring).
            ring = shmring.Ring(name, shmring_mex('ring_open', name));
        end

        function unlink(name)
            % unlink  Remove a ring's name; processes that have it open keep working.
            shmring_mex('ring_unlink', name);
        end
    end

    methods
        function close(ring)
            % close  Close this handle (the ring stays for other processes).
            if ring.Children > 0
                error('shmring:busy', 'ring %s still has %d writer(s)/reader(s) open: close them first', ...
                      ring.Name, ring.Children);
            end
            if ring.Handle ~= 0
                h = ring.Handle;
                ring.Handle = 0;
                shmring_mex('ring_close', h);
            end
        end

        function delete(ring)
            % delete  The destructor: closes the handle once no writer or reader uses it.
            if ring.Children == 0
                close(ring);
            end
        end

        function n = writeSeq(ring)
            % writeSeq  Frames committed so far (the next frame's seq).
            s = shmring_mex('ring_info', requireOpen(ring));
            n = s.write_seq;
        end

        function h = requireOpen(ring)
            % requireOpen  The MEX handle, or shmring:closed.
            if ring.Handle == 0
                error('shmring:closed', 'ring %s is closed', ring.Name);
            end
            h = ring.Handle;
        end

        function adopt(ring, delta)
            % adopt  (for Writer/Reader) count a writer or reader in (+1) or out (-1).
            ring.Children = ring.Children + delta;
        end
    end

    methods (Access = private)
        function ring = Ring(name, handle)
            ring.Name = name;
            ring.Handle = handle;
            s = shmring_mex('ring_info', handle);
            ring.Slots = s.slots;
            ring.SlotBytes = s.slot_bytes;
            ring.MetaBytes = s.meta_bytes;
            names = {'overwrite', 'block', 'drop'};
            ring.Policy = names{s.policy + 1};
        end
    end

    methods (Static, Hidden)
        function t = seconds(timeout, what)
            % seconds  A timeout in seconds for the gateway: Inf waits forever (passed on as -1).
            if ~isnumeric(timeout) || ~isscalar(timeout) || ~isreal(timeout) || isnan(timeout) || timeout < 0
                error('shmring:invalid', '%s must be a number of seconds >= 0 (Inf: forever), got %s', ...
                      what, mat2str(timeout));
            end
            t = double(timeout);
            if isinf(t)
                t = -1;
            end
        end

        function opts = options(opts, args)
            % options  Name-value pairs into OPTS (names case-insensitive); unknown names are errors.
            if mod(numel(args), 2) ~= 0
                error('shmring:invalid', 'options come in name-value pairs, got %d arguments', numel(args));
            end
            for k = 1:2:numel(args)
                key = lower(args{k});
                if ~ischar(key) || ~isfield(opts, key)
                    error('shmring:invalid', 'unknown option ''%s''; known: %s', num2str(args{k}), ...
                          strjoin(fieldnames(opts)', ', '));
                end
                opts.(key) = args{k + 1};
            end
        end
    end
end
