// The example sketches, built by PlatformIO for either chip: the code
// lives once, in ../esp8266-httpupdate and ../esp32-httpupdate.
#include <Arduino.h>

#if defined(ESP8266)
#include "../../esp8266-httpupdate/esp8266-httpupdate.ino"
#elif defined(ESP32)
#include "../../esp32-httpupdate/esp32-httpupdate.ino"
#else
#error "otagit updates ESP8266 and ESP32 devices"
#endif
