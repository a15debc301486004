"""``shmring demo``: a camera process, reader processes and a live view, on one ring.

``_command`` is the click command (registered on the ``shmring`` group when
imported), ``_run`` starts and reaps the processes, ``_procs`` is what runs in
them, ``_view`` the live table and summary, ``_starfield`` the synthetic
frames and their check. Importing the package itself does nothing, so
spawned children load only what they run.
"""
