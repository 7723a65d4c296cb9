package cord.devstack;

import java.util.List;
import java.util.Map;

import org.apache.kafka.connect.source.SourceRecord;
import org.apache.kafka.connect.source.SourceTask;

/** Waits a second per poll, so that the worker does not spin, and never returns a record. */
public class IdleSourceTask extends SourceTask {
    @Override
    public String version() {
        return "1";
    }

    @Override
    public void start(Map<String, String> props) {
    }

    @Override
    public List<SourceRecord> poll() throws InterruptedException {
        Thread.sleep(1000);
        return null;
    }

    @Override
    public void stop() {
    }
}
