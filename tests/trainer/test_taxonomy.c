/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_taxonomy.c — the one class table (trainer/common/taxonomy.h) and its users: the names and
 * their order (which every trained model depends on), the programs the renderer writes into
 * MusicNet labels read back by the reader as the same class, and the renderer's own per-class
 * facts (render/classes.c) indexed consistently with it. instrid-eval and instrid-train name
 * classes through instrid_taxonomy itself, so pinning it pins them.
 */
#include <string.h>

#include "check.h"
#include "taxonomy.h"
#ifdef HAVE_RENDER
#include "classes.h"
#endif

static void test_names_and_order(void)
{
  /* The model order: output k of every model instrid-train writes is class k. */
  static const char *const want[TAXONOMY_N] = {
      "accordion", "banjo", "bass",   "bassoon",     "cello",       "clarinet",          "cymbals",
      "drums",     "flute", "guitar", "harpsichord", "horn",        "mallet_percussion", "mandolin",
      "oboe",      "organ", "piano",  "saxophone",   "synthesizer", "trombone",          "trumpet",
      "ukulele",   "viola", "violin", "voice"};
  for (int c = 0; c < TAXONOMY_N; c++) {
    CHECK(instrid_taxonomy[c] && strcmp(instrid_taxonomy[c], want[c]) == 0,
          "class %d is %s, want %s", c, instrid_taxonomy[c] ? instrid_taxonomy[c] : "(null)",
          want[c]);
    CHECK(instrid_taxonomy_index(want[c]) == c, "index of %s", want[c]);
    if (c > 0)
      CHECK(strcmp(instrid_taxonomy[c - 1], instrid_taxonomy[c]) < 0,
            "%s before %s: sorted, unique", instrid_taxonomy[c - 1], instrid_taxonomy[c]);
  }
  CHECK(TAX_ACCORDION == 0 && TAX_MALLET_PERCUSSION == 12 && TAX_SYNTHESIZER == 18 &&
            TAX_VOICE == TAXONOMY_N - 1,
        "enum follows the names");
  CHECK(instrid_taxonomy_index("kazoo") == -1 && instrid_taxonomy_index(NULL) == -1 &&
            instrid_taxonomy_index("Piano") == -1 && instrid_taxonomy_index("") == -1,
        "unknown names");
}

/* What the renderer writes as a class's instrument code, the MusicNet reader maps back to it. */
static void test_label_programs_round_trip(void)
{
  for (int c = 0; c < TAXONOMY_N; c++) {
    int p = instrid_taxonomy_gm_program(c);
    if (c == TAX_MANDOLIN || c == TAX_UKULELE) {
      CHECK(p == 0, "%s has no General MIDI program, got %d", instrid_taxonomy[c], p);
      continue;
    }
    CHECK(p >= 1 && p <= 128, "%s: program %d", instrid_taxonomy[c], p);
    CHECK(instrid_taxonomy_from_gm_program(p) == c, "%s: program %d reads back as %d",
          instrid_taxonomy[c], p, instrid_taxonomy_from_gm_program(p));
  }
  CHECK(instrid_taxonomy_gm_program(-1) == 0 && instrid_taxonomy_gm_program(TAXONOMY_N) == 0,
        "out of range");
  /* The programs MusicNet itself uses (its readme) */
  static const struct {
    int program, cls;
  } musicnet[] = {{1, TAX_PIANO},    {7, TAX_HARPSICHORD}, {41, TAX_VIOLIN}, {42, TAX_VIOLA},
                  {43, TAX_CELLO},   {44, TAX_BASS},       {61, TAX_HORN},   {69, TAX_OBOE},
                  {71, TAX_BASSOON}, {72, TAX_CLARINET},   {74, TAX_FLUTE}};
  for (size_t i = 0; i < sizeof musicnet / sizeof musicnet[0]; i++)
    CHECK(instrid_taxonomy_from_gm_program(musicnet[i].program) == musicnet[i].cls,
          "MusicNet program %d", musicnet[i].program);
}

#ifdef HAVE_RENDER
static void test_renderer_table(void)
{
  int n_openmic = 0;
  for (int c = 0; c < TAXONOMY_N; c++) {
    const render_class *rc = &render_classes[c];
    CHECK(rc->lo > 0 && rc->lo < rc->hi && rc->hi < 128, "%s: range %d..%d", instrid_taxonomy[c],
          rc->lo, rc->hi);
    /* Every program listed as sounding like c is recognised as c (no program under two). */
    for (int i = 0; rc->gm_programs[i] >= 0; i++)
      CHECK(render_class_of_program(rc->gm_programs[i]) == c, "%s: program %d recognised as %d",
            instrid_taxonomy[c], rc->gm_programs[i], render_class_of_program(rc->gm_programs[i]));
    /* The classes without a MusicNet code can only be rendered in the OpenMIC layout. */
    if (instrid_taxonomy_gm_program(c) == 0)
      CHECK(rc->openmic, "%s has no program and is not in OpenMIC", instrid_taxonomy[c]);
    CHECK(rc->pitched == !(c == TAX_DRUMS || c == TAX_CYMBALS), "%s pitched", instrid_taxonomy[c]);
    n_openmic += rc->openmic;
  }
  /* OpenMIC-2018 has 20 classes; the taxonomy adds bassoon, harpsichord, horn, oboe, viola. */
  CHECK(n_openmic == 20, "%d OpenMIC classes", n_openmic);
  CHECK(render_class_of_drum_key(49) == TAX_CYMBALS && render_class_of_drum_key(36) == TAX_DRUMS,
        "drum keys");
}
#endif

int main(void)
{
  test_names_and_order();
  test_label_programs_round_trip();
#ifdef HAVE_RENDER
  test_renderer_table();
#endif
  return check_exit();
}
