/*
 * fuzz/ws_frame_server.c - ws_frame.c's parser in the server role: the
 * frames a client sends, split at random (driver and invariants:
 * fuzz/ws_frame_driver.h).
 */
#include "ws_frame_driver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_role(WS_SERVER, data, size);
}
