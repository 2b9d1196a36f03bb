# PlatformIO pre-script: the firmware version, stamped into the build.
#
# The version is $FIRMWARE_VERSION, else `git describe --tags` of the
# project (v1.4.0 -> 1.4.0; 3 commits after it, 1.4.0+3.gabc1234, and
# .dirty for uncommitted changes: build metadata, which otagit ignores
# when comparing, so a development build counts as the release it is
# based on and is not offered that release again).
#
# It becomes:
#   - the define FIRMWARE_VERSION, the version the sketch reports to
#     otagit (and puts in the binary as "<platform> v<version>", which
#     `otagit add` reads);
#   - version.txt, which ESP-IDF builds take as PROJECT_VER, the app
#     descriptor's version (otagit add reads it first when it is semver);
#   - the binary's name, <platform>-<version>.bin.
Import("env")  # noqa: F821 (PlatformIO provides it)

import os
import re
import subprocess

SEMVER = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")


def firmware_version(project_dir):
    v = os.environ.get("FIRMWARE_VERSION", "").strip()
    if not v:
        try:
            v = subprocess.check_output(
                ["git", "describe", "--tags", "--long", "--dirty", "--match", "v[0-9]*"],
                cwd=project_dir, text=True, stderr=subprocess.DEVNULL).strip()
        except (OSError, subprocess.CalledProcessError):
            v = "0.0.0+unknown"
        # v1.4.0-3-gabc1234[-dirty] -> 1.4.0+3.gabc1234[.dirty]; 0 commits -> 1.4.0
        m = re.match(r"^v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?)-(\d+)-(g[0-9a-f]+)(-dirty)?$", v)
        if m:
            base, ahead, sha, dirty = m.groups()
            meta = [] if ahead == "0" else [ahead, sha]
            if dirty:
                meta.append("dirty")
            v = base + ("+" + ".".join(meta) if meta else "")
    v = v[1:] if v.startswith("v") else v
    if not SEMVER.match(v):
        raise SystemExit("FIRMWARE_VERSION %r is not MAJOR.MINOR.PATCH (a semantic version)" % v)
    return v


project_dir = env.subst("$PROJECT_DIR")  # noqa: F821
version = firmware_version(project_dir)
platform = env.GetProjectOption("custom_platform", "firmware")  # noqa: F821

env.Append(CPPDEFINES=[("FIRMWARE_VERSION", env.StringifyMacro(version))])  # noqa: F821
env.Replace(PROGNAME="%s-%s" % (platform, version))  # noqa: F821
with open(os.path.join(project_dir, "version.txt"), "w") as f:
    f.write(version + "\n")
print("otagit: %s %s" % (platform, version))
