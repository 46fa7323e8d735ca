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
                new ServeCommand()
                // new FsckCommand(),
                // new IndexCommand(),
                // new HandleCommand(),
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
        System.exit(execute(args));
    }

    /**
     * Runs a subcommand by itself when its name comes first: picocli would otherwise also demand the top command's
     * required MOUNTPOINT, which no subcommand has.
     */
    static int execute(String... args) {
        for (Object sub : subcommands()) {
            CommandLine scl = new CommandLine(sub);
            if (args.length > 0 && scl.getCommandName().equals(args[0]))
                return scl.execute(java.util.Arrays.copyOfRange(args, 1, args.length));
        }
        return commandLine().execute(args);
    }
}
