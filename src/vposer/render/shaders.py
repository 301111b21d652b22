"""GLSL 3.30 sources: shaded bodies, a shadow-catching floor, and the shadow-map depth pass.

Colours are sRGB in and out; lighting is done in linear light. Fragments are written
premultiplied by alpha (blending ``ONE, ONE_MINUS_SRC_ALPHA``) so transparent output un-premultiplies
cleanly.
"""

BODY_VERTEX = """
#version 330
uniform mat4 u_model;
uniform mat4 u_view_proj;
in vec3 in_pos;
in vec3 in_normal;
in vec3 in_color;
out vec3 v_world;
out vec3 v_normal;
out vec3 v_color;
void main() {
    vec4 world = u_model * vec4(in_pos, 1.0);
    v_world = world.xyz;
    v_normal = mat3(u_model) * in_normal;
    v_color = in_color;
    gl_Position = u_view_proj * world;
}
"""

BODY_FRAGMENT = """
#version 330
uniform vec3 u_eye;
uniform vec3 u_light_dir[3];
uniform vec3 u_light_color[3];
uniform vec3 u_sky;
uniform vec3 u_ground;
uniform float u_specular;
in vec3 v_world;
in vec3 v_normal;
in vec3 v_color;
out vec4 f_color;
void main() {
    vec3 n = normalize(v_normal);
    if (!gl_FrontFacing) n = -n;
    vec3 view = normalize(u_eye - v_world);
    vec3 base = pow(v_color, vec3(2.2));
    vec3 light = mix(u_ground, u_sky, 0.5 + 0.5 * n.y);
    vec3 spec = vec3(0.0);
    for (int i = 0; i < 3; ++i) {
        vec3 l = normalize(u_light_dir[i]);
        float lambert = max(dot(n, l), 0.0);
        light += u_light_color[i] * lambert;
        vec3 h = normalize(l + view);
        spec += u_light_color[i] * pow(max(dot(n, h), 0.0), 40.0) * step(0.0, lambert);
    }
    vec3 color = base * light + u_specular * spec;
    f_color = vec4(pow(clamp(color, 0.0, 1.0), vec3(1.0 / 2.2)), 1.0);
}
"""

DEPTH_VERTEX = """
#version 330
uniform mat4 u_model;
uniform mat4 u_light_vp;
in vec3 in_pos;
void main() {
    gl_Position = u_light_vp * u_model * vec4(in_pos, 1.0);
}
"""

DEPTH_FRAGMENT = """
#version 330
void main() {}
"""

FLOOR_VERTEX = """
#version 330
uniform mat4 u_view_proj;
uniform float u_radius;
uniform vec2 u_center;
in vec2 in_xz;
out vec3 v_world;
void main() {
    v_world = vec3(u_center.x + in_xz.x * u_radius, 0.0, u_center.y + in_xz.y * u_radius);
    gl_Position = u_view_proj * vec4(v_world, 1.0);
}
"""

FLOOR_FRAGMENT = """
#version 330
uniform sampler2DShadow u_shadow_map;
uniform mat4 u_light_vp;
uniform float u_radius;
uniform vec2 u_center;
uniform vec3 u_floor_color;
uniform float u_shadow_strength;
uniform float u_soft;
uniform float u_bias;
uniform bool u_use_shadow;
uniform bool u_shadow_only;
in vec3 v_world;
out vec4 f_color;
void main() {
    float fade = 1.0 - smoothstep(0.45, 1.0, length(v_world.xz - u_center) / u_radius);
    if (fade <= 0.0) discard;
    float occluded = 0.0;
    if (u_use_shadow) {
        // Percentage-closer filtering over a fixed 6 x 6 grid of bilinear (2 x 2 compared) taps,
        // every fragment alike: no early-out that could miss a thin occluder (white streaks) or
        // switch filters along a line (jagged edges). The depth bias is in world units along
        // the light (u_bias), large enough that the floor never shadows itself where a sole
        // touches it (acne: dark specks), small enough to keep contact shadows.
        vec4 lp = u_light_vp * vec4(v_world, 1.0);
        vec3 uvz = lp.xyz / lp.w * 0.5 + 0.5;
        if (all(greaterThan(uvz.xy, vec2(0.0))) && all(lessThan(uvz.xy, vec2(1.0)))) {
            float depth = uvz.z - u_bias;
            float lit = 0.0;
            for (int i = 0; i < 6; ++i)
                for (int j = 0; j < 6; ++j)
                    lit += texture(u_shadow_map, vec3(uvz.xy + (vec2(i, j) - 2.5) * u_soft, depth));
            occluded = 1.0 - lit / 36.0;
        }
    }
    float shadow = occluded * u_shadow_strength;
    if (u_shadow_only) {
        f_color = vec4(0.0, 0.0, 0.0, shadow * fade);
    } else {
        f_color = vec4(u_floor_color * (1.0 - shadow) * fade, fade);
    }
}
"""
