/* SPDX-License-Identifier: LGPL-2.1-or-later */
// tagfile.cc — instrid's tags in audio files, through TagLib's C++ API (the C binding of TagLib
// 1.13, Debian 12's, has no call for arbitrary keys). Only instrid's three fields are touched:
// the file's other tags, pictures and audio frames are written back as TagLib read them.
#include "tagfile.h"

#include <glib.h>

#include <taglib/fileref.h>
#include <taglib/flacfile.h>
#include <taglib/id3v2tag.h>
#include <taglib/mp4file.h>
#include <taglib/mpegfile.h>
#include <taglib/opusfile.h>
#include <taglib/textidentificationframe.h>
#include <taglib/vorbisfile.h>
#include <taglib/xiphcomment.h>

namespace {

const char *const kKeys[] = {INSTRID_TAG_INSTRUMENTS, INSTRID_TAG_PROBABILITIES,
                             INSTRID_TAG_MODEL};
const char kMp4Prefix[] = "----:com.apple.iTunes:";

enum Kind { KIND_NONE, KIND_FLAC, KIND_VORBIS, KIND_OPUS, KIND_MP3, KIND_M4A };

const char *kind_name(Kind k)
{
  switch (k) {
  case KIND_FLAC:
    return "FLAC";
  case KIND_VORBIS:
    return "Ogg Vorbis";
  case KIND_OPUS:
    return "Opus";
  case KIND_MP3:
    return "MP3";
  case KIND_M4A:
    return "M4A";
  default:
    return NULL;
  }
}

Kind kind_of(TagLib::File *f)
{
  if (f == NULL || !f->isValid())
    return KIND_NONE;
  if (dynamic_cast<TagLib::FLAC::File *>(f) != NULL)
    return KIND_FLAC;
  if (dynamic_cast<TagLib::Ogg::Vorbis::File *>(f) != NULL)
    return KIND_VORBIS;
  if (dynamic_cast<TagLib::Ogg::Opus::File *>(f) != NULL)
    return KIND_OPUS;
  if (dynamic_cast<TagLib::MPEG::File *>(f) != NULL)
    return KIND_MP3;
  if (dynamic_cast<TagLib::MP4::File *>(f) != NULL)
    return KIND_M4A;
  return KIND_NONE;
}

// Opens path and names its kind; on failure sets *error and returns KIND_NONE.
Kind open_file(const char *path, TagLib::FileRef &ref, char **error)
{
  ref = TagLib::FileRef(path, false);
  if (ref.isNull() || !ref.file()->isValid()) {
    if (error != NULL)
      *error = g_strdup("not a file TagLib can read (FLAC, Ogg Vorbis, Opus, MP3 and M4A are "
                        "tagged)");
    return KIND_NONE;
  }
  Kind k = kind_of(ref.file());
  if (k == KIND_NONE && error != NULL)
    *error = g_strdup("unsupported format (FLAC, Ogg Vorbis, Opus, MP3 and M4A are tagged)");
  return k;
}

TagLib::Ogg::XiphComment *xiph_of(TagLib::File *f, Kind k, bool create)
{
  switch (k) {
  case KIND_FLAC:
    return static_cast<TagLib::FLAC::File *>(f)->xiphComment(create);
  case KIND_VORBIS:
    return static_cast<TagLib::Ogg::Vorbis::File *>(f)->tag();
  case KIND_OPUS:
    return static_cast<TagLib::Ogg::Opus::File *>(f)->tag();
  default:
    return NULL;
  }
}

// The values stored under key, in file order (empty when absent).
TagLib::StringList read_key(TagLib::File *f, Kind k, const char *key)
{
  if (k == KIND_MP3) {
    TagLib::ID3v2::Tag *id3 = static_cast<TagLib::MPEG::File *>(f)->ID3v2Tag(false);
    TagLib::ID3v2::UserTextIdentificationFrame *frame =
        id3 != NULL ? TagLib::ID3v2::UserTextIdentificationFrame::find(id3, key) : NULL;
    if (frame == NULL)
      return TagLib::StringList();
    TagLib::StringList values = frame->fieldList();
    values.erase(values.begin()); // the first field is the description
    return values;
  }
  if (k == KIND_M4A) {
    TagLib::MP4::Tag *mp4 = static_cast<TagLib::MP4::File *>(f)->tag();
    TagLib::String name = TagLib::String(kMp4Prefix) + key;
    return mp4 != NULL && mp4->contains(name) ? mp4->item(name).toStringList()
                                              : TagLib::StringList();
  }
  TagLib::Ogg::XiphComment *xiph = xiph_of(f, k, false);
  if (xiph == NULL || !xiph->contains(key))
    return TagLib::StringList();
  return xiph->fieldListMap()[key];
}

void write_key(TagLib::File *f, Kind k, const char *key, const TagLib::StringList &values)
{
  if (k == KIND_MP3) {
    TagLib::ID3v2::Tag *id3 = static_cast<TagLib::MPEG::File *>(f)->ID3v2Tag(true);
    TagLib::ID3v2::UserTextIdentificationFrame *old;
    while ((old = TagLib::ID3v2::UserTextIdentificationFrame::find(id3, key)) != NULL)
      id3->removeFrame(old);
    if (!values.isEmpty()) {
      TagLib::ID3v2::UserTextIdentificationFrame *frame =
          new TagLib::ID3v2::UserTextIdentificationFrame(TagLib::String::UTF8);
      frame->setDescription(key);
      frame->setText(values);
      id3->addFrame(frame); // the tag owns it
    }
    return;
  }
  if (k == KIND_M4A) {
    TagLib::MP4::Tag *mp4 = static_cast<TagLib::MP4::File *>(f)->tag();
    TagLib::String name = TagLib::String(kMp4Prefix) + key;
    if (values.isEmpty())
      mp4->removeItem(name);
    else
      mp4->setItem(name, TagLib::MP4::Item(values));
    return;
  }
  TagLib::Ogg::XiphComment *xiph = xiph_of(f, k, true);
  xiph->removeFields(key);
  for (TagLib::StringList::ConstIterator it = values.begin(); it != values.end(); ++it)
    xiph->addField(key, *it, false);
}

bool save(TagLib::File *f, Kind k)
{
  if (k == KIND_MP3) {
    // Only the ID3v2 tag is written, in the version the file already had (v2.4 for a new
    // one); an ID3v1 or APE tag is left as it is and none is created.
    TagLib::MPEG::File *mp3 = static_cast<TagLib::MPEG::File *>(f);
    TagLib::ID3v2::Version version = TagLib::ID3v2::v4;
    if (mp3->hasID3v2Tag() && mp3->ID3v2Tag()->header()->majorVersion() == 3)
      version = TagLib::ID3v2::v3;
    return mp3->save(TagLib::MPEG::File::ID3v2, TagLib::File::StripNone, version,
                     TagLib::File::DoNotDuplicate);
  }
  return f->save();
}

char *dup_string(const TagLib::StringList &values)
{
  return values.isEmpty() ? NULL : g_strdup(values.front().toCString(true));
}

} // namespace

extern "C" const char *instrid_tagfile_format(const char *path, char **error)
{
  TagLib::FileRef ref;
  return kind_name(open_file(path, ref, error));
}

extern "C" int instrid_tagfile_read(const char *path, instrid_tagset *out, char **error)
{
  TagLib::FileRef ref;
  Kind k = open_file(path, ref, error);
  out->instruments = NULL;
  out->probabilities = out->model = NULL;
  if (k == KIND_NONE)
    return -1;
  TagLib::StringList instruments = read_key(ref.file(), k, INSTRID_TAG_INSTRUMENTS);
  out->instruments = g_new0(char *, instruments.size() + 1);
  guint i = 0;
  for (TagLib::StringList::ConstIterator it = instruments.begin(); it != instruments.end(); ++it)
    out->instruments[i++] = g_strdup(it->toCString(true));
  out->probabilities = dup_string(read_key(ref.file(), k, INSTRID_TAG_PROBABILITIES));
  out->model = dup_string(read_key(ref.file(), k, INSTRID_TAG_MODEL));
  return 0;
}

extern "C" int instrid_tagfile_write(const char *path, const instrid_tagset *tags, char **error)
{
  TagLib::FileRef ref;
  Kind k = open_file(path, ref, error);
  if (k == KIND_NONE)
    return -1;
  if (ref.file()->readOnly()) {
    *error = g_strdup("cannot open the file for writing");
    return -1;
  }
  TagLib::StringList instruments, probabilities, model;
  for (guint i = 0; tags->instruments != NULL && tags->instruments[i] != NULL; i++)
    instruments.append(TagLib::String(tags->instruments[i], TagLib::String::UTF8));
  if (tags->probabilities != NULL)
    probabilities.append(TagLib::String(tags->probabilities, TagLib::String::UTF8));
  if (tags->model != NULL)
    model.append(TagLib::String(tags->model, TagLib::String::UTF8));
  write_key(ref.file(), k, kKeys[0], instruments);
  write_key(ref.file(), k, kKeys[1], probabilities);
  write_key(ref.file(), k, kKeys[2], model);
  if (!save(ref.file(), k)) {
    *error = g_strdup("TagLib could not write the tags");
    return -1;
  }
  return 0;
}

extern "C" void instrid_tagset_clear(instrid_tagset *set)
{
  g_strfreev(set->instruments);
  g_free(set->probabilities);
  g_free(set->model);
  set->instruments = NULL;
  set->probabilities = set->model = NULL;
}
