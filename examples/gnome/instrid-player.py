#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""instrid-player — a small GTK 4 player that shows, live, which instruments the instridentify
element hears: playbin plays a file or URI with audio-filter=instridentify, and every
`instridentify` bus message updates one bar per instrument (its probability; bold when detected).
At the end of the stream the bars show the `instridentify-summary` message.

    GST_PLUGIN_PATH=build/gst-plugin examples/gnome/instrid-player.py song.flac
    examples/gnome/instrid-player.py https://example.org/stream.ogg

Options: --model PATH (default: the element's), --audio-sink ELEMENT (e.g. fakesink),
--quit-at-eos. With INSTRID_PLAYER_DUMP=FILE set, the window's displayed state (read back from
its widgets) is written to FILE as JSON when the app quits: what the tests check.
"""
import argparse
import json
import os
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("Gtk", "4.0")
from gi.repository import Gio, GLib, Gst, Gtk  # noqa: E402


class InstrumentRow(Gtk.Box):
    """One instrument: its name, a bar and the probability as text."""

    def __init__(self, label):
        super().__init__(orientation=Gtk.Orientation.HORIZONTAL, spacing=8)
        self.instrument = label
        self.name = Gtk.Label(label=label.replace("_", " "), xalign=0.0)
        self.name.set_size_request(150, -1)
        self.bar = Gtk.LevelBar(min_value=0.0, max_value=1.0, hexpand=True)
        self.bar.set_size_request(260, -1)
        self.value = Gtk.Label(label="–", xalign=1.0)
        self.value.set_size_request(48, -1)
        for w in (self.name, self.bar, self.value):
            self.append(w)

    def show_probability(self, p, detected):
        self.bar.set_value(p)
        self.value.set_label("%.2f" % p)
        self.name.set_markup(("<b>%s</b>" if detected else "%s")
                             % GLib.markup_escape_text(self.instrument.replace("_", " ")))

    def displayed(self):
        """What this row shows, read from its widgets."""
        text = self.value.get_label()
        return {"label": self.instrument, "bar": self.bar.get_value(), "text": text,
                "bold": self.name.get_label().startswith("<b>")}


class PlayerWindow(Gtk.ApplicationWindow):
    def __init__(self, app, uri, model, audio_sink, quit_at_eos):
        super().__init__(application=app, title="instrid player")
        self.set_default_size(520, 600)
        self.quit_at_eos = quit_at_eos
        self.rows = {}
        self.messages = 0
        self.finished = False

        box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=6, margin_top=12,
                      margin_bottom=12, margin_start=12, margin_end=12)
        self.title = Gtk.Label(label=os.path.basename(uri), xalign=0.0)
        self.status = Gtk.Label(label="starting", xalign=0.0)
        self.instruments = Gtk.Label(label="", xalign=0.0, wrap=True)
        self.list = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=4)
        for w in (self.title, self.status, self.instruments, self.list):
            box.append(w)
        self.set_child(box)

        self.playbin = Gst.ElementFactory.make("playbin", None)
        self.identify = Gst.ElementFactory.make("instridentify", None)
        if self.playbin is None or self.identify is None:
            raise SystemExit("instrid-player: playbin or instridentify missing "
                             "(set GST_PLUGIN_PATH to the folder holding libgstinstrid.so)")
        if model:
            self.identify.set_property("model-location", model)
        self.playbin.set_property("uri", uri)
        self.playbin.set_property("audio-filter", self.identify)
        self.playbin.set_property("video-sink", Gst.ElementFactory.make("fakesink", None))
        if audio_sink:
            sink = Gst.parse_bin_from_description(audio_sink, True)
            self.playbin.set_property("audio-sink", sink)
        for label in self.identify.get_property("labels"):
            self.rows[label] = InstrumentRow(label)
            self.list.append(self.rows[label])

        bus = self.playbin.get_bus()
        bus.add_signal_watch()
        bus.connect("message::element", self.on_element)
        bus.connect("message::eos", self.on_eos)
        bus.connect("message::error", self.on_error)
        self.connect("close-request", self.on_close)
        self.playbin.set_state(Gst.State.PLAYING)
        self.status.set_label("playing")

    def show(self, s, what):
        # The arrays are Gst.ValueArray: list() makes plain Python lists of them.
        labels = list(s.get_value("labels"))
        probabilities = list(s.get_value("probabilities"))
        detected = list(s.get_value("instruments"))
        for label, p in zip(labels, probabilities):
            if label in self.rows:
                self.rows[label].show_probability(p, label in detected)
        self.instruments.set_label(", ".join(detected) if detected else "(no instrument)")
        ok, ts = s.get_uint64("timestamp")
        self.status.set_label("%s at %.1f s" % (what, ts / Gst.SECOND) if ok else what)

    def on_element(self, bus, msg):
        s = msg.get_structure()
        if s is None or msg.src != self.identify:
            return
        if s.get_name() == "instridentify":
            self.messages += 1
            self.show(s, "window %d" % self.messages)
        elif s.get_name() == "instridentify-summary":
            self.show(s, "summary")
            self.finished = True

    def on_eos(self, bus, msg):
        self.status.set_label("summary of %d windows" % self.messages)
        if self.quit_at_eos:
            self.close()

    def on_error(self, bus, msg):
        err, _ = msg.parse_error()
        self.status.set_label("error: %s" % err.message)
        if self.quit_at_eos:
            self.close()

    def displayed(self):
        return {"title": self.title.get_label(), "status": self.status.get_label(),
                "instruments": self.instruments.get_label(),
                "rows": [row.displayed() for row in self.rows.values()]}

    def on_close(self, *args):
        self.playbin.set_state(Gst.State.NULL)
        self.playbin.get_bus().remove_signal_watch()
        dump = os.environ.get("INSTRID_PLAYER_DUMP")
        if dump:
            with open(dump, "w") as f:
                json.dump(self.displayed(), f, indent=1)
        return False


def main(argv):
    parser = argparse.ArgumentParser(description="Plays a file or URI and shows the instruments "
                                                 "the instridentify element hears, live.")
    parser.add_argument("source", help="a file or a URI")
    parser.add_argument("--model", help="model file for the element (default: its own)")
    parser.add_argument("--audio-sink", help="audio sink description (default: playbin's)")
    parser.add_argument("--quit-at-eos", action="store_true", help="quit when the stream ends")
    args = parser.parse_args(argv[1:])
    Gst.init(None)
    uri = args.source if Gst.uri_is_valid(args.source) else Gst.filename_to_uri(
        os.path.abspath(args.source))
    # NON_UNIQUE: each run is its own player (and no session bus is needed, as under Xvfb).
    app = Gtk.Application(application_id="org.instrid.Player",
                          flags=Gio.ApplicationFlags.NON_UNIQUE)
    app.connect("activate", lambda a: PlayerWindow(a, uri, args.model, args.audio_sink,
                                                   args.quit_at_eos).present())
    return app.run([argv[0]])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
