package org.overlayj.cli;

import picocli.CommandLine;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The overlayj command line. The top command is the mount itself (fuse-overlayfs compatible, also the mount.fuse
 * helper); tools are subcommands. To add one: write the picocli command class and add one line to
 * {@link #SUBCOMMANDS}.
 */
public final class Main {
    private Main() {}

    /** The subcommands by their {@code @Command} name, one line each (MainTest checks the names agree). */
    static final Map<String, Supplier<Object>> SUBCOMMANDS = subcommandTable();

    private static Map<String, Supplier<Object>> subcommandTable() {
        Map<String, Supplier<Object>> m = new LinkedHashMap<>();
        m.put("serve", ServeCommand::new);
        m.put("fsck", FsckCommand::new);
        m.put("index", IndexCommand::new);
        m.put("handle", HandleCommand::new);
        return m;
    }

    /** The subcommands, one new instance each. */
    static List<Object> subcommands() {
        return SUBCOMMANDS.values().stream().map(Supplier::get).toList();
    }

    public static CommandLine commandLine() {
        return commandLine(true);
    }

    private static CommandLine commandLine(boolean withSubcommands) {
        CommandLine cl = new CommandLine(new MountCommand());
        if (withSubcommands) for (Object sub : subcommands()) cl.addSubcommand(sub);
        // mount(8) and mount.fuse3 put -o after the positional arguments; fuse-overlayfs accepts both orders
        cl.setPosixClusteredShortOptionsAllowed(true);
        return cl;
    }

    /**
     * Whether the arguments may need the subcommands: one names a subcommand first, or help or the version is
     * asked for (the usage lists them). A plain mount does not: picocli reads each command's annotations when it is
     * added, ~20 ms of a mount's start for four commands it will not run.
     */
    static boolean needsSubcommands(String[] args) {
        if (args.length > 0 && SUBCOMMANDS.containsKey(args[0])) return true;
        for (String a : args) {
            if (a.equals("--")) break;
            if (a.equals("-h") || a.equals("--help") || a.equals("-V") || a.equals("--version")) return true;
        }
        return false;
    }

    public static void main(String[] args) {
        if (args.length > 0 && args[0].equals(Daemon.CHILD_FLAG)) {
            // the background server, started by Daemon with arguments it wrote itself: no picocli (~85 ms of
            // the JVM's start, on the path of every background mount)
            System.exit(MountCommand.daemonChild(Arrays.copyOfRange(args, 1, args.length)));
        }
        MountCommand plain = MountCommand.plainMount(args);
        if (plain != null) System.exit(plain.call());
        System.exit(commandLine(needsSubcommands(args)).execute(args));
    }
}
