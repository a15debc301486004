function build_mex()
% build_mex  Build the shmring_mex gateway (libshmring compiled in) in MATLAB or Octave.
%
%   cd <repository>/matlab; build_mex; addpath(pwd)
%
% Needs a C99 compiler (MATLAB: mex -setup C; Octave: liboctave-dev's mkoctfile).
% libshmring's sources are compiled into the one MEX file, so nothing else is
% installed and nothing is needed at run time.
here = fileparts(mfilename('fullpath'));
csrc = fullfile(here, '..', 'c', 'src');
files = dir(fullfile(csrc, '*.c'));
sources = cellfun(@(f) fullfile(csrc, f), {files.name}, 'UniformOutput', false);
includes = {['-I' fullfile(here, '..', 'c', 'include')], ['-I' csrc]};
gateway = fullfile(here, 'shmring_mex.c');
if exist('OCTAVE_VERSION', 'builtin')
    cflags = 'CFLAGS=-std=gnu99 -fPIC -O2';
    args = [{'--mex', '-o', fullfile(here, 'shmring_mex.mex')}, includes, {gateway}, sources];
    saved = getenv('CFLAGS');
    setenv('CFLAGS', '-std=gnu99 -fPIC -O2');  % mkoctfile takes compiler flags from the environment
    restore = onCleanup(@() setenv('CFLAGS', saved));
    mkoctfile(args{:});
    clear restore;
else
    cflags = 'CFLAGS=$CFLAGS -std=gnu99 -O2';
    args = [{'-outdir', here, '-output', 'shmring_mex', cflags}, includes, {gateway}, sources];
    mex(args{:});
end
fprintf('built shmring_mex in %s (%s)\n', here, cflags);
end
