// otagit client for the ESP8266 Arduino core (3.x), stock ESP8266httpUpdate:
// polls every POLL_MS, takes the filesystem image first, then the
// application, over HTTPS with basic auth. See the README's "Device
// sketches" for why the order matters and what each answer means.
#include <ESP8266WiFi.h>
#include <ESP8266httpUpdate.h>
#include <LittleFS.h>
#include <WiFiClientSecureBearSSL.h>

#ifndef FIRMWARE_VERSION
#define FIRMWARE_VERSION "1.0.0"  // PlatformIO's extra_script.py sets it
#endif
#define PLATFORM "smart-lamp"     // the platform in the config repository

const char *WIFI_SSID = "...";
const char *WIFI_PASS = "...";
const char *OTA_URL = "https://ota.example.com/update";
// With `serve --device-auth`: the device's own credential where you can.
const char *OTA_USER = "lamp-kitchen";
const char *OTA_PASS = "...";
const unsigned long POLL_MS = 5UL * 60 * 1000;

// The CA that signed the server's certificate (PEM), not the certificate
// itself, so that renewing it needs no firmware update.
static const char CA_PEM[] PROGMEM = R"PEM(
-----BEGIN CERTIFICATE-----
...
-----END CERTIFICATE-----
)PEM";

// otagit add finds the version in the binary by this string (no app
// descriptor on the ESP8266); __attribute__((used)) keeps it in the image.
__attribute__((used)) static const char VERSION_TAG[] = PLATFORM " v" FIRMWARE_VERSION;

BearSSL::X509List trust(CA_PEM);

void checkForUpdate() {
  BearSSL::WiFiClientSecure client;
  client.setTrustAnchors(&trust);
  client.setBufferSizes(4096, 512);  // less RAM; otagit's TLS accepts it
  ESPhttpUpdate.setAuthorization(OTA_USER, OTA_PASS);
  ESPhttpUpdate.rebootOnUpdate(true);

  // 1. The filesystem image of the release on offer, once.
  LittleFS.end();
  t_httpUpdate_return fs = ESPhttpUpdate.updateFS(client, OTA_URL, FIRMWARE_VERSION);
  LittleFS.begin();
  if (fs == HTTP_UPDATE_FAILED) {
    Serial.printf("filesystem update failed (%d): %s\n", ESPhttpUpdate.getLastError(),
                  ESPhttpUpdate.getLastErrorString().c_str());
    return;  // both again at the next poll
  }
  // 2. The application; on success the device reboots into it.
  t_httpUpdate_return app = ESPhttpUpdate.update(client, OTA_URL, FIRMWARE_VERSION);
  switch (app) {
    case HTTP_UPDATE_FAILED:
      Serial.printf("update failed (%d): %s\n", ESPhttpUpdate.getLastError(),
                    ESPhttpUpdate.getLastErrorString().c_str());
      break;
    case HTTP_UPDATE_NO_UPDATES: Serial.println("up to date"); break;
    case HTTP_UPDATE_OK: break;
  }
}

void setup() {
  Serial.begin(115200);
  LittleFS.begin();
  WiFi.mode(WIFI_STA);
  WiFi.begin(WIFI_SSID, WIFI_PASS);
  while (WiFi.status() != WL_CONNECTED) delay(250);
  // Certificates need the time.
  configTime(0, 0, "pool.ntp.org", "time.nist.gov");
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
