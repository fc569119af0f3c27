/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz_sfz.c — the SFZ reader (trainer/render/sfz.c) on text in memory, with a folder holding a
 * small instrument to #include and a file that includes itself. What parses is checked against
 * the invariants the player relies on and matched against every key and velocity.
 * Include paths may not leave the folder: a quote followed by '/' and every ".." are defused
 * first (an #include of /dev/stdin would block the fuzzer, /dev/zero cost 16 MiB per input). */
#include <sys/stat.h>

#include "fuzz.h"
#include "sfz.h"

static char dir[600];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  char path[700];
  snprintf(dir, sizeof dir, "%s/sfz", fuzz_tmpdir());
  if (mkdir(dir, 0700) != 0)
    abort();
  static const char inc[] = "<group> lokey=c3 hikey=c5 ampeg_release=0.3\n"
                            "<region> sample=a.wav pitch_keycenter=60 seq_length=2\n"
                            "<region> sample=b.wav seq_position=2 trigger=release\n";
  snprintf(path, sizeof path, "%s/inc.sfz", dir);
  fuzz_write(path, (const uint8_t *)inc, sizeof inc - 1);
  static const char self[] = "#include \"self.sfz\"\n<region> sample=c.wav key=70\n";
  snprintf(path, sizeof path, "%s/self.sfz", dir);
  fuzz_write(path, (const uint8_t *)self, sizeof self - 1);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (!dir[0])
    LLVMFuzzerInitialize(NULL, NULL);
  if (size > (1u << 16))
    return 0;
  char *text = malloc(size + 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  for (size_t i = 0; i + 1 < size; i++) {
    if (text[i] == '"' && text[i + 1] == '/')
      text[i + 1] = '_';
    if (text[i] == '.' && text[i + 1] == '.')
      text[i] = '_';
  }
  char err[256] = "", warn[1024] = "";
  sfz_instrument *ins = sfz_parse(text, "fuzz.sfz", dir, err, sizeof err, warn, sizeof warn);
  free(text);
  if (!ins) {
    if (!err[0])
      abort(); /* every refusal says why */
    return 0;
  }
  size_t n = sfz_n_regions(ins);
  if (n == 0)
    abort(); /* "no playable region" is an error, not an empty instrument */
  for (size_t i = 0; i < n; i++) {
    const sfz_region *r = sfz_region_at(ins, i);
    if (!r || r->lokey < 0 || r->hikey > 127 || r->lovel < 0 || r->hivel > 127 ||
        !sfz_sample_path(ins, r->sample))
      abort();
    (void)sfz_envelope(r, 0.5, 0.25);
  }
  int lo, hi;
  sfz_key_range(ins, &lo, &hi);
  size_t match[16];
  for (int key = 0; key < 128; key += 7)
    for (int vel = 1; vel < 128; vel += 31)
      for (int trig = 0; trig < 2; trig++)
        if (sfz_match(ins, key, vel, (sfz_trigger)trig, (uint64_t)key, match, 16) > 16)
          abort();
  (void)sfz_name(ins);
  sfz_free(ins);
  return 0;
}
