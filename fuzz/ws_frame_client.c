/*
 * fuzz/ws_frame_client.c - ws_frame.c's parser in the client role: the
 * frames a server sends, split at random (driver and invariants:
 * fuzz/ws_frame_driver.h).
 */
#include "ws_frame_driver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_role(WS_CLIENT, data, size);
}
