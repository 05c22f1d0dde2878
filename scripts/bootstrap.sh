# Shared set-up of scripts/run and scripts/test (sourced, not run): the Debian packages the
# service needs, the virtualenv, and the Python packages. Every step is skipped when done.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# postgresql: initdb/pg_ctl for the embedded server (not needed with REGISTRY_DATABASE_URL).
# pango, harfbuzz-subset, CJK fonts: WeasyPrint PDFs in Chinese (without libharfbuzz-subset0
# WeasyPrint silently falls back to a font-subsetting path measured at 8.3 s a page).
# WenQuanYi Micro Hei prints certificates (its TrueType outlines subset fast); Noto Sans CJK
# covers the rarer name characters it lacks (extensions A and B).
# poppler-utils: pdftotext/pdffonts, used by the tests to read the PDFs back.
SYSTEM_PACKAGES=(postgresql libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk fonts-wqy-microhei poppler-utils)

bootstrap_system() {
  local extra=("$@") missing=() p
  for p in "${SYSTEM_PACKAGES[@]}" "${extra[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "==> installing system packages: ${missing[*]}"
    # The registry runs its own server in its data folder: no distribution cluster wanted.
    mkdir -p /etc/postgresql-common
    grep -qs '^create_main_cluster' /etc/postgresql-common/createcluster.conf ||
      echo "create_main_cluster = false" >>/etc/postgresql-common/createcluster.conf
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "Missing system packages: ${missing[*]}" >&2
    echo "Install them first, e.g.: sudo apt-get install ${missing[*]}" >&2
    if [[ " ${missing[*]} " == *" postgresql "* && -z "${REGISTRY_DATABASE_URL:-}" ]]; then
      echo "(or set REGISTRY_DATABASE_URL to use an existing PostgreSQL server)" >&2
    fi
    return 1
  fi
}

bootstrap_python() {
  local extras="$1" stamp log
  if [ ! -x .venv/bin/python ]; then
    echo "==> creating the virtualenv in .venv"
    python3 -m venv .venv
  fi
  local digest
  digest="$(sha256sum pyproject.toml | cut -c1-16)"
  stamp=".venv/.installed-$digest-${extras:-base}"
  # The dev set includes the base set.
  if [ ! -f "$stamp" ] && [ ! -f ".venv/.installed-$digest-dev" ]; then
    echo "==> installing Python packages (pyproject.toml${extras:+ [$extras]})"
    log="$(mktemp)"
    if ! { .venv/bin/python -m pip install --disable-pip-version-check -q --upgrade pip &&
      .venv/bin/python -m pip install --disable-pip-version-check -q -e ".${extras:+[$extras]}"; } >"$log" 2>&1; then
      grep -v '^WARNING: Location' "$log" >&2
      rm -f "$log"
      return 1
    fi
    rm -f "$log"
    find .venv -maxdepth 1 -name '.installed-*' ! -name ".installed-$digest-*" -delete
    touch "$stamp"
  fi
}
