package org.overlayj.nfs.exports;

import java.net.InetAddress;
import java.util.List;
import java.util.Optional;

/**
 * One exported directory: its path inside the overlay ("/" is the overlay root; user text, UTF-8) and its client
 * rules in file order. As in exports(5), the first rule whose client spec matches decides.
 */
public record Export(String path, List<ClientRule> clients) {
    public Export {
        clients = List.copyOf(clients);
    }

    public Optional<ExportOptions> optionsFor(InetAddress client) {
        for (ClientRule r : clients) if (r.client().matches(client)) return Optional.of(r.options());
        return Optional.empty();
    }
}
