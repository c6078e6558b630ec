/* Reading the frames that pass: what a charger's CALLs, the CSMS's CALLs and the answers to both
 * say about the charger (boot data, connectors, transactions, meter values, the CSMS's limits).
 * Transactions are written to the store before the answer that confirms them is forwarded;
 * connector states go into the store's grouped commit (store_batch), and the charger's
 * store_mark says which batch, for whoever answers the call (store_durable). */
#ifndef AG_CHARGER_MODEL_H
#define AG_CHARGER_MODEL_H

#include "edge/ocpp/charger.h"

struct proxy;

void charger_model_call(struct proxy *p, struct charger *ch, const struct ocpp_frame *f);
void charger_model_csms_call(struct proxy *p, struct charger *ch, const struct ocpp_frame *f);
/* `call` is the request `f` answers (either direction). */
void charger_model_result(struct proxy *p, struct charger *ch, const struct call *call, const struct ocpp_frame *f);
/* Load the transactions still open in the store (a restart mid-session, kill -9 included), so a
 * StopTransaction after the restart closes them, and each connector's last status and fault.
 * 0 or -EIO. */
int charger_model_load(struct proxy *p);
/* Finalize what charger_model_load prepared (safe after a failed or no load). */
void charger_model_unload(struct proxy *p);
/* Persist a transaction's start or end. */
void charger_model_store_tx(struct proxy *p, struct charger *ch, const struct transaction *tx, bool ended);

#endif
