package org.overlayj.core;

/** What a lookup found: the object and what getattr would show for it right then. */
public record Found(Node node, Attr attr) {}
