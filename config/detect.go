package config

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/rollout"
)

// UndetectedError is the error of DetectPlatform and DetectVersion when the
// image does not show unambiguously what they look for, so the caller has
// to be told.
type UndetectedError struct {
	// What is "platform" or "version".
	What string
	msg  string
}

func (e *UndetectedError) Error() string { return e.msg }

// DetectPlatform returns the platform of fleet that img is firmware for,
// and what showed it: the platform that the app descriptor's project name
// is, or contains; else the platform whose name occurs in the binary (the
// seed convention). When several names are contained, one inside another
// ("lamp" in "smart-lamp") counts as the longer one, and platforms of
// another chip drop out. These are the facts the loader confirms a
// release's platform by (see confirmRelease), so a detected platform is one
// the loader confirms.
//
// When the image names no platform, or several, the error is an
// *UndetectedError; other errors are failures to read img.
func DetectPlatform(fleet *rollout.Fleet, img *espimage.Image) (*rollout.Platform, string, error) {
	why := ""
	if app := img.Info.App; app != nil {
		from := fmt.Sprintf("the app descriptor's project name %q", app.ProjectName)
		if p := fleet.Platform(app.ProjectName); p != nil {
			return p, from, nil
		}
		cands := narrow(fleet, img.Info, func(p *rollout.Platform) bool { return projectNames(app, p.Name) })
		switch len(cands) {
		case 1:
			return cands[0], from, nil
		case 0:
			why = fmt.Sprintf("the app descriptor's project name %q is no platform's, and ", app.ProjectName)
		default:
			return nil, "", &UndetectedError{"platform", fmt.Sprintf("cannot tell which platform %s is for: its project name %q contains %s",
				img.Name, app.ProjectName, strings.Join(platformNames(cands), " and "))}
		}
	}
	var scanErr error
	cands := narrow(fleet, img.Info, func(p *rollout.Platform) bool {
		m, err := seedOf(img, p.Name)
		if err != nil {
			scanErr = err
		}
		return m.PlatformFound
	})
	if scanErr != nil {
		return nil, "", fmt.Errorf("%s: %w", img.Name, scanErr)
	}
	switch len(cands) {
	case 1:
		return cands[0], "its name in the binary", nil
	case 0:
		return nil, "", &UndetectedError{"platform", fmt.Sprintf("cannot tell which platform %s is for: %sthe binary contains no platform's name (%s)",
			img.Name, why, strings.Join(platformNames(fleet.Platforms()), ", "))}
	}
	return nil, "", &UndetectedError{"platform", fmt.Sprintf("cannot tell which platform %s is for: the binary contains the names %s",
		img.Name, strings.Join(platformNames(cands), " and "))}
}

// narrow returns the platforms of fleet that match, dropping one whose
// name is inside another match's name, and, when that leaves several,
// those that an image with info does not fit.
func narrow(fleet *rollout.Fleet, info espimage.Info, match func(*rollout.Platform) bool) []*rollout.Platform {
	var cands []*rollout.Platform
	for _, p := range fleet.Platforms() {
		if match(p) {
			cands = append(cands, p)
		}
	}
	cands = slices.DeleteFunc(slices.Clone(cands), func(p *rollout.Platform) bool {
		return slices.ContainsFunc(cands, func(q *rollout.Platform) bool {
			return q != p && strings.Contains(q.Name, p.Name)
		})
	})
	if len(cands) > 1 {
		fit := slices.DeleteFunc(slices.Clone(cands), func(p *rollout.Platform) bool { return !info.Fits(espimage.Chip(p.Chip)) })
		if len(fit) > 0 {
			cands = fit
		}
	}
	return cands
}

func platformNames(ps []*rollout.Platform) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}

// DetectVersion returns the version of platform's firmware that img
// carries, and where it came from: the app descriptor's version if it is a
// semantic version; else the first "v1.2.3" in the binary. This is the
// order in which the loader confirms a release's version (see
// confirmRelease), so a detected version is one the loader confirms.
//
// When the image carries no version, the error is an *UndetectedError;
// other errors are failures to read img.
func DetectVersion(img *espimage.Image, platform string) (*semver.Version, string, error) {
	app := img.Info.App
	if v := descriptorVersion(app); v != nil {
		return v, "the app descriptor", nil
	}
	m, err := seedOf(img, platform)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", img.Name, err)
	}
	if v := seedVersion(m); v != nil {
		return v, fmt.Sprintf("%q in the binary", "v"+m.Version), nil
	}
	why := "it has no app descriptor"
	if app != nil {
		why = fmt.Sprintf("its app descriptor's version %q is not a semantic version", app.Version)
	}
	return nil, "", &UndetectedError{"version", fmt.Sprintf("cannot tell the version of %s: %s and it contains no \"v1.2.3\"", img.Name, why)}
}

// seedOf runs the loader's seed-convention scan over img's content.
func seedOf(img *espimage.Image, platform string) (espimage.SeedMatch, error) {
	return SeedScan(bytes.NewReader(img.Content), img.Info, platform)
}

// projectNames reports whether an app descriptor names platform: its
// project name contains the platform's name, case-insensitively.
func projectNames(app *espimage.AppDescriptor, platform string) bool {
	return app != nil && strings.Contains(strings.ToLower(app.ProjectName), platform)
}

// descriptorVersion returns an app descriptor's version when it is a
// semantic version, else nil (no descriptor, or a version such as
// Arduino-ESP32's "esp-idf: v5.1.4 d7b0a45ddb").
func descriptorVersion(app *espimage.AppDescriptor) *semver.Version {
	if app == nil {
		return nil
	}
	v, err := rollout.ParseReleaseVersion(strings.TrimSpace(app.Version))
	if err != nil {
		return nil
	}
	return v
}

// seedVersion returns the version the seed convention found, nil if none.
func seedVersion(m espimage.SeedMatch) *semver.Version {
	if m.Version == "" {
		return nil
	}
	v, err := rollout.ParseReleaseVersion(m.Version)
	if err != nil {
		return nil
	}
	return v
}
