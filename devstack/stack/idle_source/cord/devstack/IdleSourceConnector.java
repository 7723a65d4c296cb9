package cord.devstack;

import java.util.Collections;
import java.util.List;
import java.util.Map;

import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.connect.connector.Task;
import org.apache.kafka.connect.source.SourceConnector;

/**
 * The local stack's stand-in for the Debezium connector: one task that runs and produces nothing.
 * SQL Server cannot run there, and Kafka 4 ships no sample source connector in connect-runtime; the
 * generator (devstack/synth) writes Debezium's change events to Kafka itself.
 */
public class IdleSourceConnector extends SourceConnector {
    @Override
    public String version() {
        return "1";
    }

    @Override
    public void start(Map<String, String> props) {
    }

    @Override
    public Class<? extends Task> taskClass() {
        return IdleSourceTask.class;
    }

    @Override
    public List<Map<String, String>> taskConfigs(int maxTasks) {
        return Collections.singletonList(Collections.emptyMap());
    }

    @Override
    public void stop() {
    }

    @Override
    public ConfigDef config() {
        return new ConfigDef();
    }
}
