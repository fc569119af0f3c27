/* classes.h — the renderer's view of the 25-class taxonomy: General MIDI programs per class,
 * the canonical program written to MusicNet labels, playing ranges and OpenMIC membership.
 */
#ifndef INSTRID_RENDER_CLASSES_H
#define INSTRID_RENDER_CLASSES_H

#define RENDER_N_CLASSES 25

enum {
  CLS_ACCORDION,
  CLS_BANJO,
  CLS_BASS,
  CLS_BASSOON,
  CLS_CELLO,
  CLS_CLARINET,
  CLS_CYMBALS,
  CLS_DRUMS,
  CLS_FLUTE,
  CLS_GUITAR,
  CLS_HARPSICHORD,
  CLS_HORN,
  CLS_MALLET,
  CLS_MANDOLIN,
  CLS_OBOE,
  CLS_ORGAN,
  CLS_PIANO,
  CLS_SAXOPHONE,
  CLS_SYNTH,
  CLS_TROMBONE,
  CLS_TRUMPET,
  CLS_UKULELE,
  CLS_VIOLA,
  CLS_VIOLIN,
  CLS_VOICE
};

typedef struct {
  const char *name;      /* taxonomy name, as in class-map.json and the model */
  int canonical_program; /* 1-based GM program written to MusicNet label CSVs */
  int gm_programs[24];   /* 0-based GM programs that sound like the class; -1 terminated */
  int lo, hi;            /* playing range, MIDI notes (drums: the GM percussion keys used) */
  int openmic;           /* 1 when the class is in OpenMIC-2018's vocabulary */
  int pitched;           /* 0 for drums and cymbals (GM percussion channel) */
} render_class;

extern const render_class render_classes[RENDER_N_CLASSES];

/* Class of a 0-based GM program on a melodic channel, or -1 when no class fits (tuba, string
 * ensembles, sound effects...: the renderer then picks a class by range). */
int render_class_of_program(int program0);
/* Class of a GM percussion key: CLS_CYMBALS for hi-hats, crashes, rides, splashes and chinas,
 * CLS_DRUMS for every other key. */
int render_class_of_drum_key(int key);
int render_class_index(const char *name);

#endif /* INSTRID_RENDER_CLASSES_H */
