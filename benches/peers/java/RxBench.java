// The issue-14 workloads in RxJava 3, shaped like the rstreams criterion benches they sit beside
// (see benches/peers/rxjava.sh). Prints one line per workload: "<id> <ns per item>".
//
// Timing: each workload runs WARMUP rounds untimed, then ROUNDS timed rounds; the median round
// is reported, divided by the number of items.

import io.reactivex.rxjava3.core.Flowable;
import io.reactivex.rxjava3.core.FlowableSubscriber;
import io.reactivex.rxjava3.schedulers.Schedulers;
import java.util.Arrays;
import java.util.concurrent.CountDownLatch;
import org.reactivestreams.Subscription;

public final class RxBench {
    static final int WARMUP = Integer.getInteger("warmup", 2);
    static final int ROUNDS = Integer.getInteger("rounds", 3);
    static volatile long sink;

    interface Workload {
        long run() throws Exception;
    }

    /** Sums with unbounded demand, or 256 then 192 each time 64 remain (batched). */
    static final class Sum implements FlowableSubscriber<Long> {
        final boolean batched;
        final CountDownLatch done = new CountDownLatch(1);
        Subscription s;
        long outstanding;
        long total;
        Throwable error;

        Sum(boolean batched) {
            this.batched = batched;
        }

        @Override
        public void onSubscribe(Subscription s) {
            this.s = s;
            if (batched) {
                outstanding = 256;
                s.request(256);
            } else {
                s.request(Long.MAX_VALUE);
            }
        }

        @Override
        public void onNext(Long x) {
            total += x;
            if (batched && --outstanding == 64) {
                outstanding = 256;
                s.request(192);
            }
        }

        @Override
        public void onError(Throwable t) {
            error = t;
            done.countDown();
        }

        @Override
        public void onComplete() {
            done.countDown();
        }

        long await() throws Exception {
            done.await();
            if (error != null) {
                throw new RuntimeException(error);
            }
            return total;
        }
    }

    static long sum(Flowable<Long> f, boolean batched) throws Exception {
        Sum s = new Sum(batched);
        f.subscribe(s);
        return s.await();
    }

    static void measure(String id, long items, Workload w) throws Exception {
        for (int i = 0; i < WARMUP; i++) {
            sink = w.run();
        }
        long[] ns = new long[ROUNDS];
        for (int i = 0; i < ROUNDS; i++) {
            long t = System.nanoTime();
            sink = w.run();
            ns[i] = System.nanoTime() - t;
        }
        Arrays.sort(ns);
        System.out.printf("%s %.3f%n", id, (double) ns[ROUNDS / 2] / items);
    }

    public static void main(String[] args) throws Exception {
        final long n7 = 10_000_000L;
        final long n6 = 1_000_000L;
        measure("hop", n7, () -> sum(
                Flowable.rangeLong(0, n7)
                        .subscribeOn(Schedulers.computation())
                        .observeOn(Schedulers.computation(), false, 256),
                false));
        measure("flat_map_sync", n6, () -> sum(
                Flowable.rangeLong(0, 1000)
                        .flatMap(i -> Flowable.rangeLong(0, 1000), false, 16, 256),
                true));
        measure("flat_map_pool", n6, () -> sum(
                Flowable.rangeLong(0, 1000)
                        .flatMap(i -> Flowable.rangeLong(0, 1000).subscribeOn(Schedulers.computation()),
                                false, 16, 256),
                true));
        measure("blocking_iter_sync", n6, () -> {
            long total = 0;
            for (long x : Flowable.rangeLong(0, n6).blockingIterable(256)) {
                total += x;
            }
            return total;
        });
        measure("blocking_iter_thread", n6, () -> {
            long total = 0;
            for (long x : Flowable.rangeLong(0, n6).subscribeOn(Schedulers.computation()).blockingIterable(256)) {
                total += x;
            }
            return total;
        });
        measure("map_filter_unbounded", n7, () -> sum(
                Flowable.rangeLong(0, n7).map(x -> x * 3).filter(x -> x % 4 != 1), false));
        measure("map_filter_batched", n7, () -> sum(
                Flowable.rangeLong(0, n7).map(x -> x * 3).filter(x -> x % 4 != 1), true));
        Schedulers.shutdown();
    }
}
