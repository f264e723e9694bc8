#!/usr/bin/env bash
# Builds the network's Docker images from what this machine has, with no image registry:
#   dan/node-base:local  Node 20 (the host's /usr/bin/node and its libraries), busybox, tini, CA bundle,
#                        users root and node (1000); assembled with `docker import`
#   dan/redis:local      the host's redis-server and redis-cli with busybox; `docker import`
#   dan/agent:local      Dockerfile.agent on dan/node-base:local, from the host-built dist/ (its bundle)
#                        and a production node_modules prepared on the host (no network inside the build)
# See --help. Needs a running Docker engine, and the host packages busybox-static, tini and
# redis-server (installed when missing and run as root).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() {
  cat <<'EOF'
Usage: scripts/build-local-images.sh [--force] [--with-claude-code] [--help]

Builds, without an image registry:
  dan/node-base:local    Node base image (skipped when it exists, unless --force)
  dan/redis:local        Redis image (skipped when it exists, unless --force)
  dan/agent:local        the agent image from Dockerfile.agent (always rebuilt; Docker's cache
                         makes an unchanged rebuild quick)
  dan/agent:local-claude the agent image with the Claude Code CLI (only with --with-claude-code)

Runs `npm run build` first when dist/ is missing. Prints the image sizes at the end.

Options:
  --force              rebuild the base images even when they exist
  --with-claude-code   also build the image with the Claude Code CLI (WITH_CLAUDE_CODE=1), taken
                       from node_modules/@anthropic-ai/claude-code (npm ci installs it)
  -h, --help           this help

Environment:
  DAN_AGENT_IMAGE         agent image name (default dan/agent:local)
  DAN_AGENT_CLAUDE_IMAGE  agent image with Claude Code (default: DAN_AGENT_IMAGE's tag + "-claude")
  DAN_NODE_BASE_IMAGE     Node base image name (default dan/node-base:local)
  DAN_REDIS_IMAGE         Redis image name (default dan/redis:local)
EOF
}

force=''
with_claude=''
while [ $# -gt 0 ]; do
  case "$1" in
    --force) force=1 ;;
    --with-claude-code) with_claude=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "build-local-images: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

agent_image="${DAN_AGENT_IMAGE:-dan/agent:local}"
node_base_image="${DAN_NODE_BASE_IMAGE:-dan/node-base:local}"
redis_image="${DAN_REDIS_IMAGE:-dan/redis:local}"
if [ -n "${DAN_AGENT_CLAUDE_IMAGE:-}" ]; then
  claude_image="$DAN_AGENT_CLAUDE_IMAGE"
elif [[ "${agent_image##*/}" == *:* ]]; then
  claude_image="${agent_image}-claude"
else
  claude_image="${agent_image}:claude"
fi

say() { printf '==> %s\n' "$*"; }
die() { printf 'build-local-images: %s\n' "$*" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/dan-images.XXXXXX")"
own_policy=''
cleanup() {
  rm -rf "$work"
  if [ -n "$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
}
trap cleanup EXIT

# --- what the host must have ----------------------------------------------------------------------
command -v docker >/dev/null 2>&1 || die "the docker client is missing (apt-get install docker.io)"
docker info >/dev/null 2>&1 || die "no Docker engine answers (start it: dockerd > /tmp/dockerd.log 2>&1 &)"

missing=()
# Debian's busybox-static: /bin/busybox, statically linked (the dynamic `busybox` package conflicts).
[ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 || missing+=(busybox-static)
[ -x /usr/bin/tini-static ] || missing+=(tini)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing host packages: ${missing[*]} (run as root to install them, or apt-get install them)"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # policy-rc.d answering 101 keeps the packages from starting services (redis-server).
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
  if [ -n "$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; own_policy=''; fi
fi

import_changes=()
image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# --- rootfs helpers -------------------------------------------------------------------------------
# A merged-/usr layout like Debian's: /bin, /sbin, /lib and /lib64 point into /usr.
new_rootfs() {
  local root="$1"
  mkdir -p "$root"/usr/bin "$root"/usr/sbin "$root"/usr/lib "$root"/usr/lib64 "$root"/usr/local/bin \
    "$root"/etc "$root"/tmp "$root"/root "$root"/home "$root"/var/tmp "$root"/proc "$root"/sys "$root"/dev
  ln -s usr/bin "$root/bin"
  ln -s usr/sbin "$root/sbin"
  ln -s usr/lib "$root/lib"
  ln -s usr/lib64 "$root/lib64"
  chmod 1777 "$root/tmp" "$root/var/tmp"
  chmod 700 "$root/root"
  # busybox applets as symlinks (sh, env, grep, id, ...), without replacing anything already there.
  install -m 755 /bin/busybox "$root/usr/bin/busybox"
  local applet
  while read -r applet; do
    case "$applet" in bin/*|sbin/*) applet="usr/$applet" ;; esac
    [ -e "$root/$applet" ] || [ -L "$root/$applet" ] || ln -s /usr/bin/busybox "$root/$applet"
  done < <(/bin/busybox --list-full)
  printf 'hosts: files dns\npasswd: files\ngroup: files\n' > "$root/etc/nsswitch.conf"
}

# Copies binaries and every library `ldd` lists for them (and the dynamic loader) into the rootfs.
add_with_libs() {
  local root="$1"; shift
  local bin lib
  for bin in "$@"; do
    while read -r lib; do
      [ -e "$root$lib" ] && continue
      mkdir -p "$(dirname "$root$lib")"
      cp -L "$lib" "$root$lib"
    done < <(ldd "$bin" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }')
  done
}

add_lib_by_name() {
  local root="$1" name="$2" lib
  lib="$(ldconfig -p | awk -v n="$name" '$1 == n { print $NF; exit }')"
  [ -n "$lib" ] || return 0
  [ -e "$root$lib" ] && return 0
  mkdir -p "$(dirname "$root$lib")"
  cp -L "$lib" "$root$lib"
}

# Tars a rootfs with root as owner, then the listed folders with their own uid:gid, and imports it.
import_rootfs() {
  local root="$1" image="$2"; shift 2
  local tarball excludes=() spec dir
  tarball="$work/$(basename "$root").tar"
  for spec in "$@"; do excludes+=("--exclude=./${spec%%=*}"); done
  tar --numeric-owner --owner=0 --group=0 "${excludes[@]}" -C "$root" -cf "$tarball" .
  for spec in "$@"; do
    dir="${spec%%=*}"
    tar --numeric-owner --owner="${spec#*=}" --group="${spec#*=}" -C "$root" -rf "$tarball" "./$dir"
  done
  docker import "${import_changes[@]}" "$tarball" "$image" >/dev/null
}

# git, so a domain container gives each task its own branch of a git workspace: the host's binary and
# its libraries, and the helpers a push to a local repository runs (builtins of the same binary).
add_git() {
  local root="$1" git_bin helper
  git_bin="$(command -v git || true)"
  [ -n "$git_bin" ] || die "git is missing on this host (apt-get install git): the agent image needs it for task branches"
  git_bin="$(readlink -f "$git_bin")"
  install -m 755 "$git_bin" "$root/usr/bin/git"
  add_with_libs "$root" "$git_bin"
  mkdir -p "$root/usr/lib/git-core"
  for helper in git git-receive-pack git-upload-pack git-upload-archive; do
    ln -s /usr/bin/git "$root/usr/lib/git-core/$helper"
  done
}

# --- dan/node-base:local --------------------------------------------------------------------------
build_node_base() {
  local root="$work/node-rootfs" node_bin claude_bin
  node_bin="$(command -v node)"
  node_bin="$(readlink -f "$node_bin")"
  say "assembling $node_base_image from $node_bin ($("$node_bin" --version))"
  new_rootfs "$root"
  install -m 755 "$node_bin" "$root/usr/bin/node"
  add_with_libs "$root" "$node_bin"
  # The Claude Code CLI (a native binary) needs librt as well; keep the base ready for it.
  add_lib_by_name "$root" librt.so.1
  claude_bin="$(claude_binary || true)"
  [ -n "$claude_bin" ] && add_with_libs "$root" "$claude_bin"
  install -m 755 /usr/bin/tini-static "$root/usr/bin/tini-static"
  ln "$root/usr/bin/tini-static" "$root/usr/bin/tini"
  add_git "$root"
  mkdir -p "$root/etc/ssl/certs"
  [ -f /etc/ssl/certs/ca-certificates.crt ] && cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
  cat > "$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
node:x:1000:1000::/home/node:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
  cat > "$root/etc/group" <<'EOF'
root:x:0:
node:x:1000:
nogroup:x:65534:
EOF
  mkdir -p "$root/home/node"
  import_changes=(
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    --change 'CMD ["node"]'
    --change 'LABEL org.opencontainers.image.description="Node base assembled from the host (scripts/build-local-images.sh)"'
  )
  import_rootfs "$root" "$node_base_image" home/node=1000
  docker run --rm --network none "$node_base_image" node -e 'console.log(`node ${process.version} runs`)'
  docker run --rm --network none "$node_base_image" git --version
}

# --- dan/redis:local ------------------------------------------------------------------------------
build_redis() {
  local root="$work/redis-rootfs" server cli
  server="$(readlink -f "$(command -v redis-server)")"
  cli="$(readlink -f "$(command -v redis-cli)")"
  say "assembling $redis_image from $(redis-server --version | cut -d' ' -f1-3)"
  new_rootfs "$root"
  # Copied under its own name: the binary picks its mode (server or checker) from its name.
  install -m 755 "$server" "$root/usr/bin/redis-server"
  install -m 755 "$cli" "$root/usr/bin/redis-cli"
  add_with_libs "$root" "$server" "$cli"
  # Like the official image, protected mode is off unless asked for: the container network is the
  # boundary (the compose file publishes the port on 127.0.0.1 only).
  cat > "$root/usr/local/bin/redis-server" <<'EOF'
#!/bin/sh
case " $* " in
  *" --protected-mode "*) exec /usr/bin/redis-server "$@" ;;
esac
exec /usr/bin/redis-server "$@" --protected-mode no
EOF
  chmod 755 "$root/usr/local/bin/redis-server"
  cat > "$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
redis:x:999:999::/data:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
  cat > "$root/etc/group" <<'EOF'
root:x:0:
redis:x:999:
nogroup:x:65534:
EOF
  mkdir -p "$root/data"
  import_changes=(
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    --change 'WORKDIR /data'
    --change 'USER 999:999'
    --change 'EXPOSE 6379'
    --change 'CMD ["redis-server"]'
    --change 'LABEL org.opencontainers.image.description="Redis assembled from the host (scripts/build-local-images.sh)"'
  )
  import_rootfs "$root" "$redis_image" data=999
  docker run --rm --network none "$redis_image" redis-server --version
}

# The Claude Code CLI's native binary in node_modules, if npm installed one for this platform.
claude_binary() {
  local arch candidate
  case "$(uname -m)" in x86_64) arch=x64 ;; aarch64|arm64) arch=arm64 ;; *) arch="$(uname -m)" ;; esac
  for candidate in \
    "$repo/node_modules/@anthropic-ai/claude-code-linux-$arch/claude" \
    "$repo/node_modules/@anthropic-ai/claude-code/bin/claude.exe"; do
    if [ -f "$candidate" ] && [ "$(head -c 4 "$candidate" | od -An -c | tr -d ' ')" = '177ELF' ]; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
  return 1
}

# --- the agent image ------------------------------------------------------------------------------
prepare_context() {
  local ctx="$1"
  if [ ! -f "$repo/dist/bundle/agent.mjs" ] || [ ! -f "$repo/dist/bundle/healthcheck.mjs" ]; then
    say "dist/ is missing or incomplete: npm run build"
    (cd "$repo" && npm run build)
  fi
  say "preparing the build context (production node_modules: npm ci --omit=dev)"
  mkdir -p "$ctx"
  cp "$repo/package.json" "$repo/package-lock.json" "$ctx/"
  (cd "$ctx" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error)
  # Native modules were skipped above (--ignore-scripts); the host's build of them runs in the image,
  # whose libraries are the host's own.
  local native
  for native in better-sqlite3/build/Release/better_sqlite3.node; do
    [ -f "$repo/node_modules/$native" ] || die "node_modules/$native is missing: run npm ci (it builds the native module)"
    mkdir -p "$(dirname "$ctx/node_modules/$native")"
    cp "$repo/node_modules/$native" "$ctx/node_modules/$native"
  done
  cp -a "$repo/dist" "$repo/agents" "$ctx/"
  # The image's build cuts node_modules to what the bundle leaves external.
  mkdir -p "$ctx/scripts"
  cp "$repo/scripts/bundle.mjs" "$repo/scripts/prune-node-modules.mjs" "$ctx/scripts/"
}

build_agent() {
  local ctx="$1" image="$2" claude="$3" old_id new_id
  say "building $image from Dockerfile.agent (NODE_IMAGE=$node_base_image${claude:+, WITH_CLAUDE_CODE=1})"
  old_id="$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)"
  docker build --network none -f "$repo/Dockerfile.agent" \
    --build-arg "NODE_IMAGE=$node_base_image" \
    --build-arg "WITH_CLAUDE_CODE=${claude:-0}" \
    -t "$image" "$ctx"
  new_id="$(docker image inspect --format '{{.Id}}' "$image")"
  # The image this build replaced, unless a container still uses it; and the build stage's images.
  if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then docker rmi "$old_id" >/dev/null 2>&1 || true; fi
  docker image prune -f --filter label=distributed-agent-network.build-stage=true >/dev/null
}

# --- main -----------------------------------------------------------------------------------------
if [ -n "$force" ] || ! image_exists "$node_base_image"; then build_node_base; else say "$node_base_image exists (--force rebuilds it)"; fi
if [ -n "$force" ] || ! image_exists "$redis_image"; then build_redis; else say "$redis_image exists (--force rebuilds it)"; fi

ctx="$work/context"
prepare_context "$ctx"
build_agent "$ctx" "$agent_image" ''
docker run --rm --network none --read-only --tmpfs /tmp "$agent_image" node -e 'require("node:fs").accessSync("/app/dist/bundle/agent.mjs"); process.stdout.write(`agent image ok: uid ${process.getuid()}, NODE_ENV=${process.env.NODE_ENV}\n`)'

if [ -n "$with_claude" ]; then
  claude_bin="$(claude_binary)" || die "no Claude Code binary in node_modules/@anthropic-ai (npm ci installs it as a dev dependency)"
  mkdir -p "$ctx/claude-code"
  cp -L "$claude_bin" "$ctx/claude-code/claude"
  build_agent "$ctx" "$claude_image" 1
  docker run --rm --network none --read-only --tmpfs /tmp "$claude_image" claude --version
fi

say "images"
images=("$node_base_image" "$redis_image" "$agent_image")
[ -n "$with_claude" ] && images+=("$claude_image")
for image in "${images[@]}"; do
  docker image inspect --format '{{.Size}}' "$image" | awk -v n="$image" '{ printf "  %-28s %6.0f MB\n", n, $1 / 1000000 }'
done
