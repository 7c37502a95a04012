#!/usr/bin/env bash
# Fetches the pinned releases of the NHS design system (nhsuk-frontend) and
# axe-core with npm and copies their files, unmodified, where the web port
# embeds them (static/nhsuk) and where its browser tests read axe
# (testdata/axe). With --check it fetches the same releases and compares
# them byte for byte with the committed copies instead (CI).
#
#   bash cmd/capacityd/web/update-assets.sh           # update the copies
#   bash cmd/capacityd/web/update-assets.sh --check   # fail if they differ
#
# To move to a new release, change the version below, run the script, and
# commit the result with the release notes' changes to the templates.
set -euo pipefail

NHSUK_FRONTEND_VERSION=10.6.1
AXE_CORE_VERSION=4.14.1

here=$(cd "$(dirname "$0")" && pwd)
mode=${1:-update}
case "$mode" in update|--check) ;; *) echo "usage: $0 [--check]" >&2; exit 2 ;; esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "nhsuk-frontend@$NHSUK_FRONTEND_VERSION" "axe-core@$AXE_CORE_VERSION" >/dev/null)
mkdir "$work/nhsuk" "$work/axe"
tar -xzf "$work/nhsuk-frontend-$NHSUK_FRONTEND_VERSION.tgz" -C "$work/nhsuk"
tar -xzf "$work/axe-core-$AXE_CORE_VERSION.tgz" -C "$work/axe"

# What a site ships, per the package's own template.njk: the compiled,
# minified CSS and JS (an ES module: initAll), and the assets folder
# (favicons, icons, manifest; the CSS names /assets/images/...). The
# package has no licence file: its README states the MIT licence and the
# repository's LICENSE is committed beside this copy (static/LICENSE-nhsuk-frontend).
want="$work/want"
mkdir -p "$want/nhsuk" "$want/axe"
dist="$work/nhsuk/package/dist/nhsuk"
cp "$dist/nhsuk-frontend.min.css" "$dist/nhsuk-frontend.min.js" "$want/nhsuk/"
cp -R "$dist/assets" "$want/nhsuk/assets"
cp "$work/nhsuk/package/package.json" "$work/nhsuk/package/README.md" "$want/nhsuk/"
cp "$work/axe/package/axe.min.js" "$work/axe/package/LICENSE" "$work/axe/package/package.json" "$want/axe/"

if [ "$mode" = --check ]; then
	status=0
	diff -r "$want/nhsuk" "$here/static/nhsuk" || status=1
	diff -r "$want/axe" "$here/testdata/axe" || status=1
	if [ $status -ne 0 ]; then
		echo "the committed copies differ from nhsuk-frontend $NHSUK_FRONTEND_VERSION / axe-core $AXE_CORE_VERSION: run $0" >&2
		exit 1
	fi
	echo "nhsuk-frontend $NHSUK_FRONTEND_VERSION and axe-core $AXE_CORE_VERSION: committed copies are identical"
	exit 0
fi
rm -rf "$here/static/nhsuk" "$here/testdata/axe"
mkdir -p "$here/static" "$here/testdata"
cp -R "$want/nhsuk" "$here/static/nhsuk"
cp -R "$want/axe" "$here/testdata/axe"
echo "copied nhsuk-frontend $NHSUK_FRONTEND_VERSION and axe-core $AXE_CORE_VERSION"
