#!/usr/bin/python3
"""GStreamer's RTSP server looping an Annex-B H.264 or H.265 file without re-encoding.

Usage: gst-rtsp-server.py PORT FILE CODEC [USER PASS]
Serves rtsp://127.0.0.1:PORT/cam; prints "ready" once listening.
"""
import sys
import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstRtsp", "1.0")
from gi.repository import Gst, GstRtsp, GstRtspServer, GLib  # noqa: E402

Gst.init(None)
port, path, codec = sys.argv[1], sys.argv[2], sys.argv[3]
user = sys.argv[4] if len(sys.argv) > 5 else None
password = sys.argv[5] if len(sys.argv) > 5 else None
parse, pay = ("h264parse", "rtph264pay") if codec == "h264" else ("h265parse", "rtph265pay")


class LoopFactory(GstRtspServer.RTSPMediaFactory):
    def do_create_element(self, url):
        # multifilesrc loops the file; the parser re-times it at 15 fps; config-interval=-1 sends
        # the parameter sets with every keyframe so that late joiners can decode.
        launch = (f"( multifilesrc location={path} loop=true caps=video/x-{codec},stream-format=byte-stream,framerate=15/1 ! {parse} "
                  f"! {pay} name=pay0 pt=96 config-interval=-1 )")
        return Gst.parse_launch(launch)


server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = LoopFactory()
factory.set_shared(True)
if user:
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
    auth.add_digest(user, password, token)
    auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    server.set_auth(auth)
    permissions = GstRtspServer.RTSPPermissions()
    permissions.add_role_from_structure(Gst.Structure.new_from_string("user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"))
    factory.set_permissions(permissions)
server.get_mount_points().add_factory("/cam", factory)
server.attach(None)
print("ready", flush=True)
GLib.MainLoop().run()
