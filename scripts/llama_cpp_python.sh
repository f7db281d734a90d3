#!/usr/bin/env bash
# Installs llama-cpp-python, the design's llama.cpp binding, into .venv. It ships no wheel on PyPI, so pip builds
# llama.cpp from its source release (7 to 16 minutes on 2 cores); the built wheel is kept in the user's cache,
# keyed by the version and this CPU's instruction sets (llama.cpp is built for the CPU it is built on), so a
# later run on the same machine installs it in seconds. A no-op when the pinned version is installed.
# Without it the studio runs on the prebuilt xllamacpp binding; the tests run both.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^llama-cpp-python==//p' requirements-llama-cpp-python.txt)
if .venv/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('llama-cpp-python') != '$version')" 2>/dev/null; then
  exit 0
fi
cpu=$( (grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || uname -m) | sha256sum | cut -c1-12)
cache="${XDG_CACHE_HOME:-$HOME/.cache}/dialin-studio/wheels/llama-cpp-python-$version-$cpu"
if ! ls "$cache"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  echo "Building llama-cpp-python $version from source (once per machine; 7 to 16 minutes on 2 cores)…" >&2
  mkdir -p "$cache.partial"
  # Only the library the binding loads: no multimodal library, examples, tools, tests or server.
  CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
  CMAKE_ARGS="-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF" \
    .venv/bin/python -m pip wheel --quiet --no-deps --no-binary llama-cpp-python "llama-cpp-python==$version" -w "$cache.partial"
  rm -rf "$cache" && mv "$cache.partial" "$cache"
fi
.venv/bin/python -m pip install --quiet -r requirements-llama-cpp-python.txt --find-links "$cache" --only-binary llama-cpp-python
