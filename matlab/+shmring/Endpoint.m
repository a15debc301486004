classdef (Abstract) Endpoint < handle
    % Endpoint  What a shmring.Writer and a shmring.Reader share: the ring they are
    %   attached to, their MEX handle, and closing (which also closes a ring the
    %   endpoint opened by name itself). Not made directly.

    properties (SetAccess = protected)
        Ring     % the shmring.Ring attached to
    end
    properties (Access = protected)
        Handle = 0
        OwnsRing = false
    end
    properties (Abstract, Constant, Access = protected)
        CloseCommand   % the MEX command that detaches this kind of endpoint
        Role           % 'writer' or 'reader', for messages
    end

    methods
        function close(e)
            % close  Detach (and close the ring if this endpoint opened it by name).
            if e.Handle ~= 0
                h = e.Handle;
                e.Handle = 0;
                shmring_mex(e.CloseCommand, h);
                adopt(e.Ring, -1);
                if e.OwnsRing
                    close(e.Ring);
                end
            end
        end

        function delete(e)
            % delete  The destructor: close.
            close(e);
        end
    end

    methods (Access = protected)
        function h = attachRing(e, ring)
            % attachRing  Take RING (a shmring.Ring, or a name to open) and return its MEX handle.
            if ischar(ring)
                ring = shmring.Ring.open(ring);
                e.OwnsRing = true;
            end
            e.Ring = ring;
            h = requireOpen(ring);
        end

        function attached(e, handle)
            % attached  Keep the endpoint's MEX handle; the ring counts it until close.
            e.Handle = handle;
            adopt(e.Ring, 1);
        end

        function requireAttached(e)
            if e.Handle == 0
                error('shmring:closed', 'the %s of ring %s is closed', e.Role, e.Ring.Name);
            end
        end
    end
end
