package rollout

import (
	"fmt"
	"strings"
)

// Clients that do not send a MAC header name the device in their URL: the
// FUOTA app by an id of its own (/devices/<id>), ESPHome by whatever its
// YAML puts there. LookupDevice reads such an id as a MAC, or else as a
// device's name, so a name must identify one device: the rules below are
// what NewFleet and the config loader check.

// DeviceNameKey returns the form in which device names are compared: two
// names with the same key name the same device. Names are compared without
// regard to case ("Hall Lamp" is "hall lamp"), as MACs are.
func DeviceNameKey(name string) string { return strings.ToLower(name) }

// CheckDeviceName reports why name cannot be the name of the device with
// MAC mac, nil if it can: a name that reads as a MAC (ParseMAC) is taken
// for one by LookupDevice, so it must be the device's own. That two
// devices must not share a name (DeviceNameKey) is checked by the caller,
// which knows every device.
func CheckDeviceName(name string, mac MAC) error {
	if m, ok := parseMAC(name); ok && m != mac {
		return fmt.Errorf("name %q reads as the MAC %s, not this device's %s: devices are looked up by MAC or name, so use another name", name, m, mac)
	}
	return nil
}

// addName indexes d by its name, if it has one.
func (f *Fleet) addName(d *Device) error {
	if d.Name == "" {
		return nil
	}
	if err := CheckDeviceName(d.Name, d.MAC); err != nil {
		return fmt.Errorf("device %s: %w", d.MAC, err)
	}
	key := DeviceNameKey(d.Name)
	if other, dup := f.names[key]; dup {
		return fmt.Errorf("device %s: name %q is also the name of device %s", d.MAC, d.Name, other.MAC)
	}
	f.names[key] = d
	return nil
}

// DeviceNamed returns the device with the given name (compared as
// DeviceNameKey does), or nil.
func (f *Fleet) DeviceNamed(name string) *Device {
	if f == nil || name == "" {
		return nil
	}
	return f.names[DeviceNameKey(name)]
}

// LookupDevice returns the whitelisted device that id names: its MAC in any
// form ParseMAC reads, or else its name. It returns nil for an id that
// names no device.
func (f *Fleet) LookupDevice(id string) *Device {
	if m, err := ParseMAC(id); err == nil {
		return f.Device(m)
	}
	return f.DeviceNamed(id)
}

// NoRelease is the version a device that does not say which version it
// runs is decided from when nothing else tells: none of its platform's
// releases (a factory sketch), so that it is offered what a new device
// is. Plans and the device API assume the same for a device never seen.
const NoRelease = "0.0.0"

// RunningRelease returns the release of p whose image a device reporting
// sketchMD5 (x-*-sketch-md5) runs (Artifact.RunBy), nil when none is (or
// sketchMD5 is empty): for clients that report the MD5 of their sketch but not its
// version, such as AutoConnect's update, it says which version they run.
func (p *Platform) RunningRelease(sketchMD5 string) *Release {
	if p == nil || sketchMD5 == "" {
		return nil
	}
	for _, r := range p.Releases {
		if r.Artifact.RunBy(sketchMD5) {
			return r
		}
	}
	return nil
}
