#ifndef HDP_RETRY_AGENT_CRC32C_H
#define HDP_RETRY_AGENT_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/// Whether this processor has the CRC-32C instructions that `hdp_crc32c_hardware` uses
/// (SSE 4.2 on x86-64, the CRC32 extension on 64-bit Arm). 0 elsewhere.
int hdp_crc32c_hardware_available(void);

/// Folds `length` bytes into the running CRC-32C `crc` (no inversion before or after) with the
/// processor's CRC-32C instruction. Only call it when `hdp_crc32c_hardware_available()` is 1.
uint32_t hdp_crc32c_hardware(uint32_t crc, const void *data, size_t length);

#endif
