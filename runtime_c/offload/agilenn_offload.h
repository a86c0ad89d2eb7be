/*
 * agilenn_offload.h - the device side of the offloading protocol, version 2.
 *
 * The bit formats are specified in docs/offload-protocol.md; agilenn_codegen/offload/ is the Python
 * reference, and the tests check that these functions produce the same bytes. In short:
 *
 *   symbols  centroid indices s in [0, K), channel-major, N of them (section 1)
 *   payload  7-byte header: u8 encoding (0 raw, 1 LZW, 2 context), u32 N, u8 K (256 written as 0),
 *            u8 b (raw), W (LZW) or P = 15 (context); then the body. A coded body is sent only when
 *            it is strictly shorter than the raw one (section 2)
 *   raw      b = max(1, ceil(log2 K)) bits per symbol, LSB-first, zero pad bits
 *   LZW      initial dictionary = the K single symbols; the i-th code (0-based) is
 *            w_i = max(1, bit_length(min(K + i, 2^W) - 1)) bits wide, LSB-first; the dictionary
 *            freezes at 2^W entries; no clear or end codes
 *   context  a range coder over tables fitted on training data: per pixel (row by row) an escape
 *            bit for the rare channels, then each live channel's symbol in the context of its left
 *            and upper neighbours (agilenn_context_*)
 *   frame    36-byte header (magic "AGNN", version 2, kind, flags, fragment index/count, model id,
 *            device id, seq, deadline in ms, fragment length, total length, CRC-32 of bytes 0..31 +
 *            the fragment), the fragment, and with flag MAC an 8-byte SipHash-2-4 tag of everything
 *            before it (a reply's tag also covers the tag of the request's fragment 0) (section 3).
 *            All integers little-endian.
 *
 * Every function works on caller-provided memory (no malloc, no static state), never writes past
 * the capacity it is given, and is reentrant. A typical request, with the context coder's tables
 * `model` (generated from agilenn.json by `agilenn codegen`; for LZW set .max_bits and pass its state):
 *
 *     static uint8_t line[W * LIVE_CHANNELS];    (AGILENN_CONTEXT_LINE_BYTES(&model))
 *     static uint8_t payload[AGILENN_PAYLOAD_MAX_BYTES(N, K)];
 *     static uint8_t frame[AGILENN_FRAME_MAX_BYTES(AGILENN_OFFLOAD_DEFAULT_MAX_FRAGMENT)];
 *     agilenn_payload_params_t pp = {.count = N, .alphabet = K, .context = &model};
 *     agilenn_frame_params_t fp = {.kind = AGILENN_OFFLOAD_KIND_REQUEST, .model_id = MODEL_ID, .seq = seq,
 *                                  .deadline_ms = 500, .max_fragment = 1428, .key = NULL};
 *     agilenn_encode_payload(&pp, symbols, line, sizeof line, payload, sizeof payload, &len);
 *     for (i = 0; i < AGILENN_FRAGMENT_COUNT(len, fp.max_fragment); i++) {
 *         agilenn_frame_write(&fp, payload, len, i, frame, sizeof frame, &n);  send(frame, n);
 *     }
 */
#ifndef AGILENN_OFFLOAD_H
#define AGILENN_OFFLOAD_H

#include "agilenn_types.h"

/* AGILENN_ERR_NO_SPACE (agilenn_types.h): the output would not fit the caller's buffer. agilenn_lzw_encode
 * returns it when the body would exceed the capacity (the caller then sends raw packing). */

/** The protocol version: the one place the C runtime defines it (agilenn_codegen/offload/framing.py VERSION
 * is the Python one; the tests check that they agree). */
#define AGILENN_OFFLOAD_VERSION 2
#define AGILENN_OFFLOAD_KIND_REQUEST 1 /**< device -> server: a payload */
#define AGILENN_OFFLOAD_KIND_REPLY 2   /**< server -> device: u16 class count + float32 remote logits */
#define AGILENN_OFFLOAD_KIND_BUSY 3    /**< server -> device: u8 reason, u16 retry-after ms; fall back at once */
#define AGILENN_FRAME_FLAG_MAC 0x01u   /**< flags bit 0: an 8-byte SipHash-2-4 tag follows the fragment */
#define AGILENN_FRAME_HEADER_SIZE 36u
#define AGILENN_FRAME_MAC_SIZE 8u
#define AGILENN_KEY_SIZE 16u           /**< a device's SipHash-2-4 key */
#define AGILENN_BUSY_PAYLOAD_SIZE 3u
/** 1500-byte MTU - 28 bytes of IPv4 + UDP headers - the frame header - the tag: 1428. */
#define AGILENN_OFFLOAD_DEFAULT_MAX_FRAGMENT 1428u
#define AGILENN_PAYLOAD_HEADER_SIZE 7u
#define AGILENN_PAYLOAD_RAW 0
#define AGILENN_PAYLOAD_LZW 1
#define AGILENN_PAYLOAD_CONTEXT 2

#define AGILENN_LZW_MIN_BITS 9
#define AGILENN_LZW_MAX_BITS 16

/** Raw bits per symbol for an alphabet of K (1..256): max(1, ceil(log2 K)), a constant expression. */
#define AGILENN_RAW_BITS(K)                                                                              \
    ((K) <= 2 ? 1u : (K) <= 4 ? 2u : (K) <= 8 ? 3u : (K) <= 16 ? 4u : (K) <= 32 ? 5u : (K) <= 64 ? 6u \
     : (K) <= 128 ? 7u : 8u)
/** Bytes of N symbols packed at b bits. */
#define AGILENN_PACKED_BYTES(N, b) ((((uint64_t)(N)) * (b) + 7u) / 8u)
/** A payload buffer of this size always suffices (raw packing plus the header). */
#define AGILENN_PAYLOAD_MAX_BYTES(N, K) \
    ((size_t)(AGILENN_PAYLOAD_HEADER_SIZE + AGILENN_PACKED_BYTES(N, AGILENN_RAW_BITS(K))))

/**
 * LZW encoder state for code width W, a trie: per code its first child and next sibling (u16) and
 * its last symbol (u8): 5 * 2^W bytes (2.5 KiB for W = 9, 20 KiB for W = 12, 320 KiB for W = 16).
 * Declare it as `uint16_t state[AGILENN_LZW_STATE_WORDS(W)]` (2-byte aligned).
 */
#define AGILENN_LZW_STATE_BYTES(W) ((size_t)5u << (W))
#define AGILENN_LZW_STATE_WORDS(W) ((size_t)5u << ((W) - 1))

/** Number of fragments of a payload of `total` bytes: max(1, ceil(total / max_fragment)). */
#define AGILENN_FRAGMENT_COUNT(total, max_fragment) \
    ((total) == 0u ? 1u : (uint32_t)((total) / (max_fragment)) + (uint32_t)((total) % (max_fragment) != 0u))
/** A frame buffer of this size holds any fragment, with its tag. */
#define AGILENN_FRAME_MAX_BYTES(max_fragment) \
    ((size_t)AGILENN_FRAME_HEADER_SIZE + (size_t)(max_fragment) + (size_t)AGILENN_FRAME_MAC_SIZE)

typedef struct {
    uint32_t count; /**< N, the number of symbols */
    uint8_t bits;   /**< b, 1..8 */
} agilenn_pack_params_t;

/** Raw packing: N symbols (each < 2^b) at b bits, LSB-first, into ceil(N*b/8) bytes (zero pad bits).
 * AGILENN_ERR_ARGUMENT for a symbol >= 2^b or b outside 1..8; AGILENN_ERR_NO_SPACE if the bytes
 * exceed `capacity` (nothing is written then). */
agilenn_status_t agilenn_pack_indices(const agilenn_pack_params_t *p, const uint8_t *symbols, uint8_t *out,
                                      size_t capacity, size_t *out_len);

typedef struct {
    uint32_t count;    /**< N, the number of symbols */
    uint16_t alphabet; /**< K, 1..256 */
    uint8_t max_bits;  /**< W, the largest code width, 9..16 */
} agilenn_lzw_params_t;

/** LZW body (no header) of N symbols (each < K). `state` holds AGILENN_LZW_STATE_BYTES(W) bytes (its
 * previous contents do not matter; only K entries are reset). AGILENN_ERR_NO_SPACE as soon as the body would exceed `capacity` (bytes written so far
 * are garbage then); AGILENN_ERR_ARGUMENT for a symbol >= K, a NULL pointer or a small state. */
agilenn_status_t agilenn_lzw_encode(const agilenn_lzw_params_t *p, const uint8_t *symbols, uint16_t *state,
                                    size_t state_bytes, uint8_t *out, size_t capacity, size_t *out_len);

/*
 * The context coder (payload encoding 2): a range coder over fitted tables, symbol by symbol in pixel
 * order (rows top to bottom, columns left to right; per pixel the escape bit, then the live channels).
 * A live channel's symbol is coded with the row chosen by its left and upper neighbours in the same
 * channel, kept in a line buffer of one row (W * live_count bytes), and by whether the previous live
 * channel's symbol of the pixel is non-zero. Channels that never held a non-zero
 * symbol in training ("rare") cost one escape bit per pixel. Integer-only: no FPU, no divisions.
 */

#define AGILENN_CONTEXT_MAX_ALPHABET 16
#define AGILENN_CONTEXT_PRECISION 15 /**< P: every row's frequencies sum to 2^15 */

/** The fitted tables and the feature map's shape (generated as const data, in flash). */
typedef struct {
    uint16_t alphabet;           /**< K, 2..16; the value K in a context means "outside the feature map" */
    uint16_t channels;           /**< C_r, symbols per pixel */
    uint16_t height;             /**< H, rows of pixels */
    uint16_t width;              /**< W, pixels per row */
    uint16_t live_count;         /**< L, 1..C_r: channels with tables */
    uint16_t rare_count;         /**< C_r - L: channels covered by the escape bit */
    const uint16_t *live;        /**< L channel numbers, ascending */
    const uint16_t *rare;        /**< rare_count channel numbers, ascending */
    const uint8_t *border;       /**< L bytes of value K: the left neighbours of column 0 */
    const uint16_t *context_map; /**< L * (K+1)^2 * K entries row * K: [j][left][up][prev], prev < K */
    const uint32_t *cum_freq;    /**< rows * K entries cum | freq << 16 (freq >= 1): [row * K + s] */
} agilenn_context_model_t;

/** Bytes of the encoder's line buffer: W * L (at most W * C_r). */
#define AGILENN_CONTEXT_LINE_BYTES(model) ((size_t)(model)->width * (size_t)(model)->live_count)

/** The encoder's state between pixels (caller-provided; no field is meant to be read by the caller). */
typedef struct {
    const agilenn_context_model_t *model;
    uint8_t *line;        /**< the row above from column x on, the current row before x */
    uint8_t *out;         /**< bytes written so far: out[0 .. pos) */
    size_t capacity;
    size_t pos;
    size_t zeros;         /**< zero bytes produced but not written yet (dropped if nothing follows) */
    uint64_t low;         /**< bit 32: a carry into the bytes not yet final */
    uint32_t range;
    uint32_t cache;       /**< the oldest byte not yet final ... */
    uint32_t pending;     /**< ... and pending - 1 bytes 0xFF after it (0: no byte yet) */
    uint32_t x;
    uint32_t y;
    agilenn_status_t status; /**< sticky: the first error */
} agilenn_context_encoder_t;

/** Start a body: AGILENN_ERR_ARGUMENT for a NULL pointer, bad tables or a line buffer smaller than
 * AGILENN_CONTEXT_LINE_BYTES(model). The output is written forward into out[0 .. capacity). */
agilenn_status_t agilenn_context_encode_begin(agilenn_context_encoder_t *enc, const agilenn_context_model_t *model,
                                              uint8_t *line, size_t line_bytes, uint8_t *out, size_t capacity);

/** Code the next pixel's C_r symbols (each < K), given in coding order: pixel[j] is the symbol of
 * channel live[j] for j < L, then pixel[L + i] that of channel rare[i] (a streamed network writes its
 * remote channels in this order, e.g. by permuting the last layer's output channels at compile time).
 * AGILENN_ERR_NO_SPACE as soon as the body would pass the capacity (the caller then sends raw
 * packing), AGILENN_ERR_ARGUMENT for a symbol >= K or a pixel past the end; errors are sticky. */
agilenn_status_t agilenn_context_encode_pixel(agilenn_context_encoder_t *enc, const uint8_t *pixel);

/** Finish after exactly H * W pixels: the shortest tail, and *out_len = the body's length. */
agilenn_status_t agilenn_context_encode_end(agilenn_context_encoder_t *enc, size_t *out_len);

/** The whole body of a channel-major symbol map S[c][y][x] (C_r * H * W bytes, the network's output):
 * begin + every pixel + end, the same bytes as pixel by pixel. */
agilenn_status_t agilenn_context_encode(const agilenn_context_model_t *model, const uint8_t *symbols, uint8_t *line,
                                        size_t line_bytes, uint8_t *out, size_t capacity, size_t *out_len);

/** The payload's 7-byte header: encoding, N (u32), K (256 written as 0), b / W / P. */
void agilenn_payload_header(uint8_t *out, uint8_t encoding, uint32_t count, uint32_t alphabet, uint8_t width);

typedef struct {
    uint32_t channels;     /**< C_r, symbols per pixel */
    uint32_t plane;        /**< H * W, symbols per channel */
    uint32_t bits;         /**< b, 1..8 */
    const uint16_t *order; /**< order[j]: the channel of pixel[j] (a pixel may come in coding order) */
} agilenn_pack_pixel_params_t;

/** Raw packing of a streamed map, one pixel at a time: ORs pixel[j] (< 2^b) into `body` (zeroed before the first
 * pixel, AGILENN_PACKED_BYTES(C_r * H * W, b) bytes) at the bit position of symbol (order[j], index) in
 * channel-major order, index = y * W + x. After every pixel, `body` equals agilenn_pack_indices of the map. */
void agilenn_pack_pixel(const agilenn_pack_pixel_params_t *p, const uint8_t *pixel, uint32_t index, uint8_t *body);

typedef struct {
    uint32_t count;    /**< N, the number of symbols */
    uint16_t alphabet; /**< K, 1..256 */
    uint8_t max_bits;  /**< LZW's W, 9..16; 0 disables LZW (raw only) */
    const agilenn_context_model_t *context; /**< the context coder's tables, or NULL; when set, LZW is not used */
} agilenn_payload_params_t;

/** Payload = 7-byte header + a coded body when strictly shorter than raw packing, raw otherwise; the same
 * bytes as agilenn_codegen.offload.encode_payload. The coded body is context-coded when `context` is set
 * (N must be its C_r * H * W and K its alphabet; `state` is the line buffer, at least
 * AGILENN_CONTEXT_LINE_BYTES(context) bytes), else LZW when max_bits != 0 (`state` holds
 * AGILENN_LZW_STATE_BYTES(W) bytes, 2-byte aligned), else none (`state` may be NULL). `capacity` >=
 * AGILENN_PAYLOAD_MAX_BYTES(N, K) always suffices; with less, AGILENN_ERR_NO_SPACE when neither body
 * fits. Never writes past `capacity`. */
agilenn_status_t agilenn_encode_payload(const agilenn_payload_params_t *p, const uint8_t *symbols, void *state,
                                        size_t state_bytes, uint8_t *out, size_t capacity, size_t *out_len);

/** CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), chained like zlib's crc32: start with 0,
 * agilenn_crc32(agilenn_crc32(0, a, n), b, m) is the CRC of a followed by b. One lookup per byte in a 1 KiB const table. */
uint32_t agilenn_crc32(uint32_t crc, const uint8_t *data, size_t len);

/** SipHash-2-4 state: feed the message in pieces of any length (agilenn_siphash.c). */
typedef struct {
    uint64_t v0, v1, v2, v3;
    uint8_t tail[8];  /**< the bytes of an incomplete 8-byte word */
    uint32_t length;  /**< bytes fed so far (only length mod 256 enters the tag) */
} agilenn_siphash_t;

void agilenn_siphash_init(agilenn_siphash_t *s, const uint8_t *key); /**< key: AGILENN_KEY_SIZE bytes */
void agilenn_siphash_update(agilenn_siphash_t *s, const uint8_t *data, size_t len);
uint64_t agilenn_siphash_final(agilenn_siphash_t *s);
/** SipHash-2-4 of `len` bytes under a 16-byte key: the tag a frame carries (little-endian on the wire). */
uint64_t agilenn_siphash24(const uint8_t *key, const uint8_t *data, size_t len);

typedef struct {
    uint8_t kind;          /**< AGILENN_OFFLOAD_KIND_REQUEST, _REPLY or _BUSY */
    uint32_t model_id;     /**< generated constant: first 4 bytes (LE) of SHA-256 of the canonical agilenn.json */
    uint32_t device_id;    /**< the device's id (its key's id when authenticated; 0 when it has none) */
    uint32_t seq;          /**< sequence number chosen by the device, echoed in the reply */
    uint16_t deadline_ms;  /**< requests: the device's reply timeout (0: the server's default); 0 otherwise */
    uint16_t max_fragment; /**< bytes of payload per fragment, >= 1 (default 1428) */
    const uint8_t *key;    /**< AGILENN_KEY_SIZE-byte key: append a SipHash-2-4 tag (flag MAC); NULL: no tag */
    const uint8_t *request_tag; /**< replies and busy replies with a key: the 8-byte tag of the request's
                                     fragment 0, which the reply's tag also covers; NULL otherwise */
} agilenn_frame_params_t;

/** Write fragment `index` (0 <= index < AGILENN_FRAGMENT_COUNT(payload_len, max_fragment)) of a payload:
 * the 36-byte header, CRC included, then payload[index*max_fragment ...], then the tag when `key` is set.
 * AGILENN_ERR_ARGUMENT for a bad index, kind or more than 65535 fragments; AGILENN_ERR_NO_SPACE if the
 * frame exceeds `capacity`. */
agilenn_status_t agilenn_frame_write(const agilenn_frame_params_t *p, const uint8_t *payload, uint32_t payload_len,
                                     uint16_t index, uint8_t *out, size_t capacity, size_t *out_len);

/** The same frame when its fragment already lies at frame + AGILENN_FRAME_HEADER_SIZE (a buffer that keeps
 * room for the header before the payload): writes the header, the CRC and the tag around it, copying
 * nothing. `fragment_len` must be the length fragment `index` has; `capacity` counts from `frame`. */
agilenn_status_t agilenn_frame_seal(const agilenn_frame_params_t *p, uint32_t payload_len, uint16_t index,
                                    uint8_t *frame, size_t capacity, size_t *out_len);

/** What a device expects of a reply (or a busy reply) to its current request. */
typedef struct {
    uint32_t model_id;
    uint32_t device_id;
    uint32_t seq;
    const uint8_t *key;         /**< set: the reply must carry a valid tag; NULL: it must carry none */
    const uint8_t *request_tag; /**< with `key`: the tag of the request's fragment 0 (8 bytes) */
} agilenn_reply_params_t;

/** Checks one received datagram against the request it should answer: a whole frame (fragment 0 of 1) of
 * version 2, kind reply or busy, no unknown flag, reserved byte 0, deadline 0, this model id, device id and
 * sequence number, consistent lengths, a matching CRC, and (with a key) a matching tag, compared in constant
 * time. AGILENN_OK with *kind, *payload (pointing into `frame`) and *payload_len; AGILENN_ERR_BAD_REPLY for
 * anything else (the outputs are then untouched). It does not look inside the payload. */
agilenn_status_t agilenn_frame_read_reply(const agilenn_reply_params_t *p, const uint8_t *frame, size_t length,
                                          uint8_t *kind, const uint8_t **payload, size_t *payload_len);

#endif /* AGILENN_OFFLOAD_H */
