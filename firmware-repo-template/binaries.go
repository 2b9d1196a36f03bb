package repotemplate

import "github.com/otagit/otagit/espimage"

// Binary is one generated firmware image of the template.
type Binary struct {
	// Path is the file's path in the repository.
	Path string
	// Options make the image.
	Options espimage.BuildOptions
}

// Build makes the image.
func (b Binary) Build() ([]byte, error) { return espimage.Build(b.Options) }

// Binaries lists the template's firmware images.
var Binaries = []Binary{
	{"firmware/smart-lamp/smart-lamp-1.0.0.bin", espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "smart-lamp", Version: "1.0.0", Size: 16 << 10}},
	{"firmware/smart-lamp/smart-lamp-1.1.0.bin", espimage.BuildOptions{Chip: espimage.ESP8266, ProjectName: "smart-lamp", Version: "1.1.0", Size: 16 << 10}},
	{"firmware/weather-station/weather-station-2.0.0.bin", espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: "weather-station", Version: "2.0.0", Size: 16 << 10, Date: "Nov  2 2026", Time: "10:00:00"}},
	{"firmware/weather-station/weather-station-2.1.0.bin", espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: "weather-station", Version: "2.1.0", Size: 16 << 10, Date: "Nov 20 2026", Time: "16:30:00"}},
}
