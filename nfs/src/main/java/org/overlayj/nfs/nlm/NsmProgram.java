package org.overlayj.nfs.nlm;

import org.dcache.oncrpc4j.rpc.OncRpcException;
import org.dcache.oncrpc4j.rpc.RpcCall;
import org.dcache.oncrpc4j.rpc.RpcDispatchable;
import org.dcache.oncrpc4j.xdr.XdrVoid;
import org.overlayj.nfs.xdr.*;

import java.io.IOException;
import java.net.InetSocketAddress;

/**
 * The status monitor (NSM, program 100024) as a server's own: SM_NOTIFY from a client that rebooted releases
 * its locks, SM_STAT tells our state number. We monitor no hosts for other programs: SM_MON answers STAT_FAIL
 * (a client's lock manager talks to its own machine's statd, never to ours).
 */
final class NsmProgram implements RpcDispatchable {
    private final NlmService service;

    NsmProgram(NlmService service) {
        this.service = service;
    }

    @Override
    public void dispatchOncRpcCall(RpcCall call) throws OncRpcException, IOException {
        InetSocketAddress remote = call.getTransport().getRemoteSocketAddress();
        switch (call.getProcedure()) {
            case Nsm.SM_NULL_1, Nsm.SM_SIMU_CRASH_1 -> {
                call.retrieveCall(XdrVoid.XDR_VOID);
                call.reply(XdrVoid.XDR_VOID);
            }
            case Nsm.SM_STAT_1 -> {
                call.retrieveCall(new sm_name());
                call.reply(statRes(sm_res.STAT_FAIL));
            }
            case Nsm.SM_MON_1 -> {
                call.retrieveCall(new mon());
                call.reply(statRes(sm_res.STAT_FAIL));
            }
            case Nsm.SM_UNMON_1 -> {
                call.retrieveCall(new mon_id());
                call.reply(stat());
            }
            case Nsm.SM_UNMON_ALL_1 -> {
                call.retrieveCall(new my_id());
                call.reply(stat());
            }
            case Nsm.SM_NOTIFY_1 -> {
                stat_chge c = new stat_chge();
                call.retrieveCall(c);
                if (c.mon_name == null || c.mon_name.length > Nsm.SM_MAXSTRLEN) throw new IOException("mon_name too long");
                service.rebooted(Nlm4Program.name(c.mon_name), remote.getAddress(), c.state);
                call.reply(XdrVoid.XDR_VOID);
            }
            default -> call.failProcedureUnavailable();
        }
    }

    private sm_stat_res statRes(int res) {
        sm_stat_res r = new sm_stat_res();
        r.res_stat = res;
        r.state = service.state();
        return r;
    }

    private sm_stat stat() {
        sm_stat r = new sm_stat();
        r.state = service.state();
        return r;
    }
}
