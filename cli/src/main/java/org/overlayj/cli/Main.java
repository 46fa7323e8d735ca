package org.overlayj.cli;

import picocli.CommandLine;

import java.util.List;

/**
 * The overlayj command line. The top command is the mount itself (fuse-overlayfs compatible, also the mount.fuse
 * helper); tools are subcommands. To add one: write the picocli command class and add one line to
 * {@link #subcommands()}.
 */
public final class Main {
    private Main() {}

    /** The subcommands, one line each. */
    static List<Object> subcommands() {
        return List.of(
                new ServeCommand(),
                new FsckCommand(),
                new IndexCommand(),
                new HandleCommand()
        );
    }

    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new MountCommand());
        for (Object sub : subcommands()) cl.addSubcommand(sub);
        // mount(8) and mount.fuse3 put -o after the positional arguments; fuse-overlayfs accepts both orders
        cl.setPosixClusteredShortOptionsAllowed(true);
        return cl;
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }
}
