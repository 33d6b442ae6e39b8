#!/usr/bin/env bash
# Vendors the API reference viewer (swagger-ui-dist, from the npm registry)
# under assets/static/docs/swagger-ui/, so that /docs works with no internet
# access. The files are committed; run this again only to change the version.
#
#   scripts/vendor-docs.sh            # the pinned version
#   SWAGGER_UI_VERSION=5.x.y scripts/vendor-docs.sh
set -euo pipefail

VERSION="${SWAGGER_UI_VERSION:-5.35.0}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/assets/static/docs/swagger-ui"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# npm pack checks the tarball against the registry's integrity hash.
(cd "$tmp" && npm pack --silent "swagger-ui-dist@$VERSION" >/dev/null)
tar -xzf "$tmp/swagger-ui-dist-$VERSION.tgz" -C "$tmp"

rm -rf "$dest"
mkdir -p "$dest"
for f in swagger-ui-bundle.js swagger-ui.css LICENSE; do
    cp "$tmp/package/$f" "$dest/$f"
done
# The source map is not vendored: drop the reference to it.
sed -i '/^\/\/# sourceMappingURL=/d' "$dest/swagger-ui-bundle.js" "$dest/swagger-ui.css"
echo "swagger-ui-dist $VERSION" >"$dest/VERSION"
echo "vendored swagger-ui-dist $VERSION into ${dest#"$root"/}"
