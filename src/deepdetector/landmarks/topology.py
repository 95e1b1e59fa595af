"""Named points and regions of the 468-point FaceMesh topology (MediaPipe's numbering).

"Right" and "left" are the subject's: on a frontal face the subject's right eye is on the image's
left. Only the groups the project uses are named here.
"""

from __future__ import annotations

MESH_POINTS = 468

#: Eye contours for the eye aspect ratio, in the order p1..p6 of Soukupova and Cech (2016):
#: outer corner, two upper-lid points, inner corner, two lower-lid points.
RIGHT_EYE = (33, 160, 158, 133, 153, 144)
LEFT_EYE = (263, 387, 385, 362, 380, 373)

#: Inner lip midpoints (upper, lower) and mouth corners (right, left).
INNER_LIP_UPPER, INNER_LIP_LOWER = 13, 14
MOUTH_CORNERS = (61, 291)

NOSE_TIP = 1
CHIN = 152
FOREHEAD = 10

#: Points that move with the skull, not with expression: used for head pose and to separate head
#: motion from expression (forehead, nose bridge and tip, eye corners, cheekbones at the face's side).
RIGID = (10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 33, 133, 362, 263, 127, 356, 234, 454)

#: The outline of the face, clockwise from the forehead (a closed polygon).
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
             152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)  # fmt: skip

#: The outer lip contour (a closed polygon) and the inner one (the mouth opening).
LIPS_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
LIPS_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)

#: Lower face as lip-sync generators repaint it: jaw line from ear to ear below the nose, closed
#: over the lower nose (a closed polygon).
LOWER_FACE = (234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288,
              361, 323, 454, 358, 327, 2, 98, 129)  # fmt: skip
