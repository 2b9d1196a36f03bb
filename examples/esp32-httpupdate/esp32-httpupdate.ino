// otagit client for the ESP32 Arduino core (2.x/3.x), stock HTTPUpdate:
// polls every POLL_MS, takes the filesystem image first, then the
// application, over HTTPS with basic auth. See the README's "Device
// sketches" for why the order matters and what each answer means.
#include <WiFi.h>
#include <WiFiClientSecure.h>
#include <HTTPUpdate.h>
#include <LittleFS.h>

#ifndef FIRMWARE_VERSION
#define FIRMWARE_VERSION "2.0.0"  // PlatformIO's extra_script.py sets it
#endif
#define PLATFORM "weather-station" // the platform in the config repository

const char *WIFI_SSID = "...";
const char *WIFI_PASS = "...";
const char *OTA_URL = "https://ota.example.com/update";
// With `serve --device-auth`: the device's own credential where you can.
const char *OTA_USER = "station-roof";
const char *OTA_PASS = "...";
const unsigned long POLL_MS = 5UL * 60 * 1000;

// The CA that signed the server's certificate (PEM).
static const char CA_PEM[] = R"PEM(
-----BEGIN CERTIFICATE-----
...
-----END CERTIFICATE-----
)PEM";

// Arduino-ESP32's app descriptor carries the core's version, not this
// sketch's: otagit add finds the version by this string instead.
__attribute__((used)) static const char VERSION_TAG[] = PLATFORM " v" FIRMWARE_VERSION;

void checkForUpdate() {
  WiFiClientSecure client;
  client.setCACert(CA_PEM);
  httpUpdate.setAuthorization(OTA_USER, OTA_PASS);
  httpUpdate.rebootOnUpdate(true);

  // 1. The filesystem image of the release on offer, once.
  LittleFS.end();
  t_httpUpdate_return fs = httpUpdate.updateSpiffs(client, OTA_URL, FIRMWARE_VERSION);
  LittleFS.begin();
  if (fs == HTTP_UPDATE_FAILED) {
    Serial.printf("filesystem update failed (%d): %s\n", httpUpdate.getLastError(),
                  httpUpdate.getLastErrorString().c_str());
    return;  // both again at the next poll
  }
  // 2. The application; on success the device reboots into it.
  t_httpUpdate_return app = httpUpdate.update(client, OTA_URL, FIRMWARE_VERSION);
  switch (app) {
    case HTTP_UPDATE_FAILED:
      Serial.printf("update failed (%d): %s\n", httpUpdate.getLastError(),
                    httpUpdate.getLastErrorString().c_str());
      break;
    case HTTP_UPDATE_NO_UPDATES: Serial.println("up to date"); break;
    case HTTP_UPDATE_OK: break;
  }
}

void setup() {
  Serial.begin(115200);
  LittleFS.begin(true);
  WiFi.mode(WIFI_STA);
  WiFi.begin(WIFI_SSID, WIFI_PASS);
  while (WiFi.status() != WL_CONNECTED) delay(250);
  configTime(0, 0, "pool.ntp.org", "time.nist.gov");  // certificates need the time
  while (time(nullptr) < 1700000000) delay(250);
  Serial.printf("%s %s\n", PLATFORM, FIRMWARE_VERSION);
}

unsigned long lastPoll = 0;

void loop() {
  if (lastPoll == 0 || millis() - lastPoll >= POLL_MS) {
    lastPoll = millis();
    checkForUpdate();
  }
  // ... the device's own work ...
}
