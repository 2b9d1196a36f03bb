// Package imagesig finds and checks the signatures that signed firmware
// images carry, in the three formats ESP devices verify before they boot
// an update, and loads the public keys a server trusts. It is the one
// place that knows where each format puts its signature; whoever needs to
// see through a signature container (to read the image header behind
// esp32FOTA's prefix, or the image without an ESP8266 trailer) asks it.
//
// # Formats
//
// ESP8266 ("esp8266"): the ESP8266 Arduino core's signed updates
// (esp8266/Arduino cores/esp8266/Updater.cpp, tools/signing.py). The
// file is the image, an RSA signature and the signature's length as a
// 32-bit little-endian word:
//
//	image | signature (n bytes) | n (4 bytes, LE)
//
// The Updater reads n from the last 4 bytes, requires it to equal its
// key's modulus length, hashes the image with SHA-256 and checks an RSA
// PKCS#1 v1.5 signature (BearSSL br_rsa_pkcs1_vrfy with the SHA-256
// OID). signing.py's legacy output, for devices on older cores, signs
// the bare digest without the OID (`openssl rsautl -sign`); both are
// accepted. signing.py always writes n = 256, so its images need an
// RSA-2048 key. The Updater stages only the image, without the trailer,
// for the bootloader to copy.
//
// ESP32 Secure Boot v2 ("secure-boot-v2"): ESP-IDF's signed apps
// (esptool espsecure sign_data --version 2; ESP-IDF
// esp_image_format.c verify_secure_boot_signature). The image, whose
// length the device computes from its segments (header, segments,
// checksum padded to 16 bytes, the appended SHA-256 when the header says
// so), is padded with 0xFF to a 4 KiB boundary; a 4 KiB signature sector
// follows, holding up to three 1216-byte signature blocks and 0xFF:
//
//	0     magic 0xE7
//	1     version: 0x02 RSA, 0x03 ECDSA
//	2     ECDSA: 0 SHA-256, 1 SHA-384
//	4     SHA-256 (or SHA-384, 48 bytes) of the padded image
//	36    RSA: n (384 bytes), e (4), R^2 mod n (384), -1/n mod 2^32 (4),
//	      RSA-PSS signature (384; MGF1-SHA-256, 32-byte salt)
//	36    ECDSA P-256: curve id (1 = P-192, 2 = P-256), x, y, r, s (32 each)
//	52    ECDSA P-384: curve id 3, x, y, r, s (48 each)
//	1196  CRC-32 of bytes 0..1195
//	1200  16 zero bytes
//
// Numbers are little-endian. The device accepts an image when a block
// verifies with a key whose digest (SHA-256 of the key bytes in the
// block) is burned into its eFuses. elf2image --secure-pad-v2 pads the
// image with an extra segment so that the sector falls on a 64 KiB
// boundary; that padding is part of the image and needs nothing special.
//
// esp32FOTA ("esp32fota"): the chrisjoyce911/esp32FOTA library's signed
// images (src/esp32FOTA.cpp validate_sig; README). The signature comes
// first, then the image:
//
//	signature (512 bytes by default, setSignatureLen) | image
//
// The library hashes the image with SHA-256 and checks the RSA PKCS#1
// v1.5 signature with mbedtls_pk_verify, which requires the signature to
// be exactly the key's modulus length: 512 bytes is an RSA-4096 key. It
// does not accept compressed images that are signed.
package imagesig
