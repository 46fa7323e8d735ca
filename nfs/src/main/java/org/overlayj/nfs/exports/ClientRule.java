package org.overlayj.nfs.exports;

/** One {@code client(options)} item of an exports line. */
public record ClientRule(ClientSpec client, ExportOptions options) {}
