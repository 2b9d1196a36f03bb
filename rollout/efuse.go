package rollout

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrBadEfuseID is returned (wrapped) by ParseEfuseID for text that is not
// the decimal of a 48-bit eFuse MAC.
var ErrBadEfuseID = errors.New("not an eFuse MAC id")

// EfuseID returns the number ESP.getEfuseMac() returns on a device whose
// station MAC is m, as esp32FOTA sends it (?id=<decimal>). Arduino-ESP32
// copies the six bytes of the factory MAC (esp_efuse_mac_get_default, the
// station MAC) into a uint64 on a little-endian CPU, so the MAC's first
// byte is the number's lowest: 24:0A:C4:12:34:56 is 0x563412C40A24.
func EfuseID(m MAC) uint64 {
	var id uint64
	for i := len(m) - 1; i >= 0; i-- {
		id = id<<8 | uint64(m[i])
	}
	return id
}

// ParseEfuseID reads the decimal of ESP.getEfuseMac() (see EfuseID) and
// returns the station MAC it stands for. A number above 2^48-1 is no MAC.
func ParseEfuseID(s string) (MAC, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id>>48 != 0 {
		return MAC{}, fmt.Errorf("%q: %w (the decimal of ESP.getEfuseMac())", s, ErrBadEfuseID)
	}
	var m MAC
	for i := range m {
		m[i] = byte(id >> (8 * i))
	}
	return m, nil
}
